#!/usr/bin/env node
// Go module confinement's cost (run `npm run build` first; needs root or user namespaces, and go):
//   - per intercepted call: a jailed Go program times N os.Open()+Close() itself (openat is notified,
//     close is not) with no filter, under --seccomp_unotify (notified and decoded, no stack walk) and
//     under --go_mod (notified, the goroutine's stack walked and mapped to modules); the differences
//     over N are the costs. A call the allow-list leaves alone (getpid) is timed beside it.
//   - start-up: reading a large Go binary as tsjail does before the first clone (the file, then its
//     ELF headers, build info and function table located and checked), and a full walk of the
//     table (every function's name and module, which tsjail does lazily), for a program built here
//     from many std packages and for the toolchain's own `compile` when it is installed.
// Usage: node bench/gomod.mjs [N=20000] [runs=5]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.argv[2] ?? 20_000);
const RUNS = Number(process.argv[3] ?? 5);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsjail = join(root, 'dist/bin/tsjail.js');
const dir = join(tmpdir(), 'tsjail-bench-gomod');
const go = ['/usr/bin/go', '/usr/lib/go/bin/go', '/usr/local/go/bin/go'].find((p) => existsSync(p));
if (!go) {
  console.log('gomod: no go toolchain (Debian: golang-go); skipped');
  process.exit(0);
}
const env = { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: 'off', GOSUMDB: 'off', GOTOOLCHAIN: 'local', GOCACHE: join(tmpdir(), 'tsjail-gocache'), GOPATH: join(dir, 'gopath'), CGO_ENABLED: '0', HOME: dir };

function build(name, source) {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'go.mod'), `module example.com/${name}\n\ngo 1.18\n`);
  writeFileSync(join(d, 'main.go'), source);
  execFileSync(go, ['build', '-o', join(dir, `${name}.bin`), '.'], { cwd: d, env, stdio: ['ignore', 'ignore', 'inherit'] });
  return { bin: join(dir, `${name}.bin`), goMod: join(d, 'go.mod') };
}

const loop = build(
  'loop',
  `package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	t := time.Now()
	for i := 0; i < n; i++ {
		f, err := os.Open("/etc/hostname")
		if err != nil {
			panic(err)
		}
		f.Close()
	}
	open := time.Since(t)
	t = time.Now()
	for i := 0; i < n; i++ {
		syscall.Getpid()
	}
	fmt.Printf("%.4f %.4f\\n", float64(open.Nanoseconds())/1e3/float64(n), float64(time.Since(t).Nanoseconds())/1e3/float64(n))
}
`,
);

const big = build(
  'big',
  `package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"debug/dwarf"
	"debug/elf"
	"encoding/json"
	"encoding/xml"
	"expvar"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"go/types"
	htmltemplate "html/template"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/big"
	"net/http"
	"net/http/httptest"
	_ "net/http/pprof"
	"net/mail"
	"net/rpc"
	"net/smtp"
	"os"
	"regexp"
	"runtime/pprof"
	"text/template"
)

var sink = []any{tar.NewReader, zip.NewReader, gzip.NewReader, tls.Dial, x509.ParseCertificate, sql.Open, dwarf.New, elf.Open,
	json.Marshal, xml.Marshal, expvar.NewInt, ast.Print, format.Source, parser.ParseFile, token.NewFileSet, types.NewPackage,
	htmltemplate.New, gif.Decode, jpeg.Decode, png.Decode, big.NewInt, http.Get, httptest.NewServer, mail.ParseAddress,
	rpc.Dial, smtp.Dial, regexp.MustCompile, pprof.StartCPUProfile, template.New}

func main() {
	if len(os.Args) > 5 {
		fmt.Println(sink...)
	}
}
`,
);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timeLoop(extra) {
  const open = [];
  const getpid = [];
  for (let i = 0; i < RUNS; i++) {
    const r = spawnSync(process.execPath, [tsjail, '-Mo', '--chroot', '/', '-q', ...extra, '--', loop.bin, String(N)], { encoding: 'utf8' });
    const m = /^([\d.]+) ([\d.]+)$/m.exec(r.stdout);
    if (r.status !== 0 || !m) throw new Error(`tsjail ${extra.join(' ')}: status ${r.status}\n${r.stderr}`);
    open.push(Number(m[1]));
    getpid.push(Number(m[2]));
  }
  return { open: median(open), getpid: median(getpid) };
}

const plain = timeLoop([]);
const traced = timeLoop(['--seccomp_unotify']);
const confined = timeLoop(['--go_mod', loop.goMod, '--go_module_policy', 'example.com/elsewhere=confined']);
console.log(`per call (median of ${RUNS} runs of ${N} calls, µs): os.Open+Close        getpid (never notified)`);
console.log(`  no filter                                      ${plain.open.toFixed(2).padStart(8)}        ${plain.getpid.toFixed(3).padStart(8)}`);
console.log(`  --seccomp_unotify (notified, no stack walk)    ${traced.open.toFixed(2).padStart(8)}        ${traced.getpid.toFixed(3).padStart(8)}`);
console.log(`  --go_mod (notified, stack walked)              ${confined.open.toFixed(2).padStart(8)}        ${confined.getpid.toFixed(3).padStart(8)}`);
console.log(`  cost of an intercepted call: ${(confined.open - plain.open).toFixed(2)} µs, of which the stack walk and module lookup ≈ ${(confined.open - traced.open).toFixed(2)} µs`);

const { parseElf } = await import(join(root, 'dist/gomod/elf.js'));
const { readBuildInfo } = await import(join(root, 'dist/gomod/buildinfo.js'));
const { locatePclntab } = await import(join(root, 'dist/gomod/pclntab.js'));
const { ModuleIndex } = await import(join(root, 'dist/gomod/modules.js'));
const tool = join(execFileSync(go, ['env', 'GOTOOLDIR'], { env, encoding: 'utf8' }).trim(), 'compile');
const targets = [big.bin, ...(existsSync(tool) ? [tool] : [])];
console.log('\nstart-up: reading a Go binary before the first clone (median of 5, ms)');
for (const file of targets) {
  const read = [];
  const parse = [];
  const walk = [];
  let nfunc = 0;
  for (let i = 0; i < 5; i++) {
    let t = performance.now();
    const buf = readFileSync(file);
    read.push(performance.now() - t);
    t = performance.now();
    const elf = parseElf(buf, file);
    const info = readBuildInfo(buf, elf, file);
    const table = locatePclntab(buf, elf, file);
    parse.push(performance.now() - t);
    t = performance.now();
    const idx = new ModuleIndex([info.main?.path ?? '', ...info.deps.map((d) => d.path)]);
    for (let f = 0; f < table.nfunc; f++) idx.moduleOfFunc(table.funcAt(f).name);
    walk.push(performance.now() - t);
    nfunc = table.nfunc;
  }
  console.log(`  ${file} (${(statSync(file).size / 2 ** 20).toFixed(1)} MiB, ${nfunc} functions): read ${median(read).toFixed(1)}, ELF + build info + pclntab located and checked ${median(parse).toFixed(2)}; every function's name and module (not needed at start-up) ${median(walk).toFixed(1)}`);
}
