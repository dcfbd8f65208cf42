/**
 * Go programs the Go module confinement tests build for themselves: a main
 * module (example.com/app) and a local module it requires through a replace
 * directive (example.com/poisoned), both with the same four risky calls
 * (pidfd_open, exec, opening a file, a TCP dial), and a goroutine-heavy file
 * I/O program. Standard library only; no network (GOFLAGS=-mod=mod, GOPROXY=off,
 * GOCACHE in the temporary directory). Skips when `go` is missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function goBinary(): string | undefined {
  for (const p of ['/usr/bin/go', '/usr/lib/go/bin/go', '/usr/local/go/bin/go']) if (existsSync(p)) return p;
  try {
    return execFileSync('sh', ['-c', 'command -v go'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function missingGo(): string | undefined {
  const why = goBinary() ? undefined : 'no go toolchain (Debian: golang-go; .ci/install-deps.sh installs it)';
  if (why) console.warn(`SKIP (go): ${why}`);
  return why;
}

/** The four calls (and an open in a function small enough to be inlined), as one package's functions; `pkg` is its package clause. */
function risky(pkg: string): string {
  return `package ${pkg}

import (
	"net"
	"os"
	"os/exec"
	"syscall"
)

//go:noinline
func PidfdOpen() error {
	fd, _, e := syscall.Syscall(434, uintptr(os.Getpid()), 0, 0)
	if e != 0 {
		return e
	}
	syscall.Close(int(fd))
	return nil
}

//go:noinline
func Exec(path string) error {
	c := exec.Command(path)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	return c.Run()
}

//go:noinline
func Open(path string) error {
	f, err := os.Open(path)
	if err == nil {
		f.Close()
	}
	return err
}

// Small enough to be inlined into its caller, where it leaves no frame of its own.
func QuickOpen(path string) error {
	_, err := os.ReadFile(path)
	return err
}

//go:noinline
func Dial(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
	}
	return err
}
`;
}

const MAIN = `package main

import (
	"fmt"
	"os"

	"example.com/app/local"
	"example.com/poisoned"
)

func report(name string, err error) {
	if err != nil {
		fmt.Printf("%s: %v\\n", name, err)
	} else {
		fmt.Printf("%s: ok\\n", name)
	}
}

// usage: app poisoned|main FILE ADDR
func main() {
	file, addr := os.Args[2], os.Args[3]
	if os.Args[1] == "poisoned" {
		report("pidfd_open", poisoned.PidfdOpen())
		report("exec", poisoned.Exec("/bin/true"))
		report("open", poisoned.Open(file))
		report("dial", poisoned.Dial(addr))
		report("inlined_open", poisoned.QuickOpen(file))
	} else {
		report("pidfd_open", local.PidfdOpen())
		report("exec", local.Exec("/bin/true"))
		report("open", local.Open(file))
		report("dial", local.Dial(addr))
		report("inlined_open", local.QuickOpen(file))
	}
	fmt.Println("done")
}
`;

const BUSY = `package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// usage: busy DIR GOROUTINES SECONDS: each goroutine writes, reads back and removes its own file until time is up.
func main() {
	dir := os.Args[1]
	n, _ := strconv.Atoi(os.Args[2])
	secs, _ := strconv.Atoi(os.Args[3])
	end := time.Now().Add(time.Duration(secs) * time.Second)
	var ops, fails int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := filepath.Join(dir, "f"+strconv.Itoa(i))
			for time.Now().Before(end) {
				if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
					atomic.AddInt64(&fails, 1)
					continue
				}
				if _, err := os.ReadFile(p); err != nil {
					atomic.AddInt64(&fails, 1)
				}
				atomic.AddInt64(&ops, 1)
			}
			os.Remove(p)
		}(i)
	}
	wg.Wait()
	fmt.Printf("ops=%d fails=%d\\n", ops, fails)
}
`;

const CGO = `package main

/*
#include <fcntl.h>
#include <unistd.h>
static int copen(const char *p) { int fd = open(p, O_RDONLY); if (fd >= 0) close(fd); return fd; }
*/
import "C"

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("copen:", C.copen(C.CString(os.Args[1])) >= 0)
}
`;

/**
 * A cgo program (module example.com/cgoapp) whose C code opens a file: its
 * calls from C cannot be walked as Go stacks. Returns the binary, or a skip
 * reason when no C compiler is installed.
 */
export function buildCgoProgram(g: GoPrograms): { bin: string; goMod: string } | string {
  const cc = ['/usr/bin/cc', '/usr/bin/gcc'].find((p) => existsSync(p));
  if (!cc) return 'no C compiler for cgo (Debian: gcc)';
  const dir = join(g.dir, 'cgoapp');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'go.mod'), 'module example.com/cgoapp\n\ngo 1.18\n');
  writeFileSync(join(dir, 'main.go'), CGO);
  const env = { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: 'off', GOSUMDB: 'off', GOTOOLCHAIN: 'local', GOCACHE: join(tmpdir(), 'tsjail-gocache'), GOPATH: join(g.dir, 'gopath'), CGO_ENABLED: '1', CC: cc, HOME: g.dir };
  const bin = join(g.dir, 'cgoapp.bin');
  execFileSync(goBinary()!, ['build', '-o', bin, '.'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  return { bin, goMod: join(dir, 'go.mod') };
}

export interface GoPrograms {
  readonly dir: string;
  /** The app's go.mod (module example.com/app), as written with `gomod`. */
  readonly goMod: string;
  /** Non-PIE, PIE and stripped PIE builds of the app. */
  readonly app: string;
  readonly appPie: string;
  readonly appStripped: string;
  readonly busy: string;
  /** Writes the app's go.mod: these lines, then its require and replace lines (only the replace when the text requires it itself). */
  writeGoMod(text: string): string;
}

const GO_MOD_REQUIRE = 'require example.com/poisoned v0.0.0\n\nreplace example.com/poisoned => ../poisoned\n';

/** Builds everything once per test file (a few seconds with a cold cache). */
export function buildGoPrograms(): GoPrograms {
  const dir = mkdtempSync(join(tmpdir(), 'tsjail-go-'));
  const app = join(dir, 'app');
  const pois = join(dir, 'poisoned');
  const busyDir = join(dir, 'busy');
  for (const d of [app, join(app, 'local'), pois, busyDir]) mkdirSync(d, { recursive: true });
  writeFileSync(join(pois, 'go.mod'), 'module example.com/poisoned\n\ngo 1.18\n');
  writeFileSync(join(pois, 'poisoned.go'), risky('poisoned'));
  writeFileSync(join(app, 'local', 'local.go'), risky('local'));
  writeFileSync(join(app, 'main.go'), MAIN);
  writeFileSync(join(app, 'go.mod'), `module example.com/app\n\ngo 1.18\n\n${GO_MOD_REQUIRE}`);
  writeFileSync(join(busyDir, 'go.mod'), 'module example.com/busy\n\ngo 1.18\n');
  writeFileSync(join(busyDir, 'main.go'), BUSY);
  const env = { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: 'off', GOSUMDB: 'off', GOTOOLCHAIN: 'local', GOCACHE: join(tmpdir(), 'tsjail-gocache'), GOPATH: join(dir, 'gopath'), CGO_ENABLED: '0', HOME: dir };
  const go = goBinary()!;
  const build = (cwd: string, out: string, ...flags: string[]) => execFileSync(go, ['build', ...flags, '-o', out, '.'], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  build(app, join(dir, 'app.bin'));
  build(app, join(dir, 'app-pie.bin'), '-buildmode=pie');
  build(app, join(dir, 'app-stripped.bin'), '-buildmode=pie', '-ldflags=-s -w');
  build(busyDir, join(dir, 'busy.bin'));
  const goMod = join(app, 'go.mod');
  return {
    dir,
    goMod,
    app: join(dir, 'app.bin'),
    appPie: join(dir, 'app-pie.bin'),
    appStripped: join(dir, 'app-stripped.bin'),
    busy: join(dir, 'busy.bin'),
    writeGoMod(text: string) {
      writeFileSync(goMod, `${text}\n${/^\s*require/m.test(text) ? GO_MOD_REQUIRE.slice(GO_MOD_REQUIRE.indexOf('replace')) : GO_MOD_REQUIRE}`);
      return goMod;
    },
  };
}
