/**
 * deploy/ (issue 19): no cluster and no docker here, so the manifests are
 * checked against the Kubernetes API schemas (kubernetes-models: its JSON
 * schemas for types, required fields and formats, and its TypeScript
 * declarations, through the compiler, for unknown fields and enum values, as
 * a strict server would refuse them), against each other (ports, labels,
 * probes), against tsjail's own parser (the command line and the jail config
 * they carry), and the image definition against the Makefile (it builds the
 * binary it copies).
 */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseCommandLine } from '../../src/cli/parse.js';
import { applyConfigFile } from '../../src/config/apply.js';
import { validateSpec } from '../../src/validate.js';

const ROOT = join(import.meta.dirname, '../..');
const K8S = join(ROOT, 'deploy/k8s');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** apiVersion/kind → the kubernetes-models module and its interface. */
const MODELS: Record<string, { module: string; type: string }> = {
  'apps/v1/Deployment': { module: 'kubernetes-models/apps/v1/Deployment', type: 'IDeployment' },
  'v1/Service': { module: 'kubernetes-models/v1/Service', type: 'IService' },
  'v1/ConfigMap': { module: 'kubernetes-models/v1/ConfigMap', type: 'IConfigMap' },
};

function load(file: string): Obj[] {
  return parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((d) => {
    expect(d.errors, file).toEqual([]);
    return d.toJS() as Obj;
  });
}

const FILES = readdirSync(K8S).filter((f) => f.endsWith('.yaml'));
const ALL = FILES.flatMap((f) => load(f).map((doc) => ({ file: f, doc })));

/** The JSON-schema check of kubernetes-models: throws with the failing paths. */
async function schemaCheck(doc: Obj): Promise<void> {
  const m = MODELS[`${doc.apiVersion}/${doc.kind}`];
  if (!m) throw new Error(`no schema known for ${doc.apiVersion} ${doc.kind}`);
  const mod = (await import(m.module)) as Record<string, new (d: Obj) => { validate(): void }>;
  new mod[doc.kind]!(doc).validate();
}

/**
 * The strict check: each document as an object literal typed with the API's
 * interface. TypeScript refuses a property the type does not declare (excess
 * property check) and a string outside an enum's values. Returns the messages.
 */
function strictCheck(docs: Obj[]): string[] {
  const file = join(ROOT, 'test/unit/.manifests.check.ts');
  const lines: string[] = [];
  docs.forEach((doc, i) => {
    const m = MODELS[`${doc.apiVersion}/${doc.kind}`]!;
    lines.push(`import type { ${m.type} as T${i} } from '${m.module}';`, `export const d${i}: T${i} = ${JSON.stringify(doc)};`);
  });
  const source = lines.join('\n');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

const deployments = ALL.filter((x) => x.doc.kind === 'Deployment');
const container = (d: Obj): Obj => d.spec.template.spec.containers.find((c: Obj) => c.name === 'challenge');

describe('Kubernetes manifests', () => {
  it('are a ConfigMap, two Deployment variants and the Services', () => {
    expect(FILES.sort()).toEqual(['configmap.yaml', 'deployment-userns.yaml', 'deployment.yaml', 'service.yaml']);
    expect(ALL.map((x) => `${x.file}:${x.doc.kind}`).sort()).toEqual(['configmap.yaml:ConfigMap', 'deployment-userns.yaml:Deployment', 'deployment.yaml:Deployment', 'service.yaml:Service', 'service.yaml:Service']);
  });

  for (const { file, doc } of ALL) {
    it(`${file}: ${doc.kind} ${doc.metadata?.name} passes the API schema`, async () => {
      await expect(schemaCheck(doc)).resolves.toBeUndefined();
    });
  }

  it('declare no field the API does not have and no value outside an enum (strict)', () => {
    expect(strictCheck(ALL.map((x) => x.doc))).toEqual([]);
  });

  it('the checks bite: a misspelt field, a bad enum value, a wrong type and a missing name are caught', async () => {
    const misspelt = structuredClone(deployments[0]!.doc);
    misspelt.spec.template.spec.hostUser = false;
    const badEnum = structuredClone(deployments[0]!.doc);
    container(badEnum).securityContext.procMount = 'Unmaskd';
    const [spelling, value] = [strictCheck([misspelt]).join('\n'), strictCheck([badEnum]).join('\n')];
    expect(spelling).toMatch(/'"hostUser"' does not exist in type 'IPodSpec'/);
    expect(value).toMatch(/"Unmaskd"' is not assignable/);
    const typed = structuredClone(deployments[0]!.doc);
    typed.spec.replicas = 'two';
    await expect(schemaCheck(typed)).rejects.toThrow(/replicas must be integer/);
    const unnamed = structuredClone(deployments[0]!.doc);
    delete container(unnamed).name;
    unnamed.spec.template.spec.containers[0].image = 'x';
    await expect(schemaCheck(unnamed)).rejects.toThrow('data/spec/template/spec/containers/0 must have required property name');
  });

  for (const { file, doc } of deployments) {
    describe(file, () => {
      const c = container(doc);
      const args: string[] = c.args;

      it('runs tsjail -Ml, the game port and the metrics port as the command line says', () => {
        expect(args).toContain('-Ml');
        const port = args[args.indexOf('--port') + 1];
        const metrics = args[args.indexOf('--metrics_addr') + 1]!;
        const ports = Object.fromEntries(c.ports.map((p: Obj) => [p.name, p.containerPort]));
        expect(ports).toEqual({ game: Number(port), metrics: Number(metrics.split(':').pop()) });
        expect(metrics).toBe('[::]:9100');
        const entry = c.command ? c.command.join(' ') : '';
        expect(c.command ? entry.includes('exec /usr/local/bin/tsjail "$@"') : true).toBe(true);
      });

      it('liveness and readiness probe /healthz on the metrics port', () => {
        for (const probe of [c.livenessProbe, c.readinessProbe]) expect(probe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
        expect(doc.spec.template.metadata.annotations['prometheus.io/port']).toBe('9100');
      });

      it('gives the container what a jail needs', () => {
        const sc = c.securityContext;
        expect(sc.capabilities.add).toEqual(['SYS_ADMIN']);
        expect(sc.seccompProfile).toEqual({ type: 'Unconfined' });
        expect(sc.appArmorProfile).toEqual({ type: 'Unconfined' });
        expect(sc.privileged).toBeUndefined();
        expect(sc.readOnlyRootFilesystem).toBe(true);
        if (file === 'deployment-userns.yaml') {
          expect(doc.spec.template.spec.hostUsers).toBe(false);
          expect(sc.procMount).toBe('Unmasked');
          expect(c.command).toBeUndefined();
        } else {
          expect(doc.spec.template.spec.hostUsers).toBeUndefined();
          expect(c.command.slice(0, 2)).toEqual(['/bin/sh', '-c']);
          expect(c.command[2]).toMatch(/^mount -t proc -o nosuid,nodev,noexec proc \/run\/tsjail\/proc && /);
        }
      });

      it('its command line and the ConfigMap\'s jail config pass tsjail\'s own parsing and validation', async () => {
        const cm = ALL.find((x) => x.doc.kind === 'ConfigMap')!.doc;
        const mount = c.volumeMounts.find((v: Obj) => v.name === 'config');
        const volume = doc.spec.template.spec.volumes.find((v: Obj) => v.name === 'config');
        expect(volume.configMap.name).toBe(cm.metadata.name);
        const cfgPath = args[args.indexOf('--config') + 1]!;
        expect(cfgPath).toBe(`${mount.mountPath}/jail.cfg`);
        const dir = mkdtempSync(join(tmpdir(), 'tsjail-deploy-'));
        writeFileSync(join(dir, 'jail.cfg'), cm.data['jail.cfg']);
        const local = args.map((a) => (a === cfgPath ? join(dir, 'jail.cfg') : a));
        const { spec } = await parseCommandLine(local, async (s, path) => void applyConfigFile(s, path));
        expect(validateSpec(spec)).toEqual([]);
        expect(spec.cfg.mode).toBe('LISTEN_TCP');
        expect(spec.cfg.port).toBe(1337);
        expect(spec.cfg.ext.metrics_addr).toBe('[::]:9100');
        expect(spec.cfg.ext.output_limit).toBe(16n << 20n);
        expect(spec.cfg.exec_bin?.path).toBe('/home/user/challenge');
        expect(spec.cfg.mount[0]).toMatchObject({ src: '/chroot', dst: '/', is_bind: true, rw: false });
      });
    });
  }

  it('the Services select the Deployments\' pods and target ports they declare; only the game port is public', () => {
    const services = ALL.filter((x) => x.doc.kind === 'Service').map((x) => x.doc);
    for (const { doc } of deployments) {
      const labels = doc.spec.template.metadata.labels;
      expect(doc.spec.selector.matchLabels).toEqual(labels);
      const names = container(doc).ports.map((p: Obj) => p.name);
      for (const s of services) {
        for (const [k, v] of Object.entries(s.spec.selector)) expect(labels[k]).toBe(v);
        for (const p of s.spec.ports) expect(names).toContain(p.targetPort);
      }
    }
    expect(services.map((s) => [s.spec.type, s.spec.ports.map((p: Obj) => p.port)])).toEqual([
      ['LoadBalancer', [1337]],
      ['ClusterIP', [9100]],
    ]);
  });
});

/** A Makefile's rules: target → prerequisites (order-only ones included), and its default goal. */
function makeRules(text: string): { rules: Map<string, string[]>; goal?: string } {
  const rules = new Map<string, string[]>();
  let goal: string | undefined;
  for (const line of text.replace(/\\\n/g, ' ').split('\n')) {
    if (line.startsWith('\t') || line.startsWith('#')) continue;
    const m = /^([^:=#\s][^:=#]*?)\s*:(?![=:])\s*([^#;]*)/.exec(line);
    if (!m || /^\s*[\w.]+\s*[?:+]?=/.test(line)) continue;
    for (const target of m[1]!.trim().split(/\s+/)) {
      rules.set(target, [...(rules.get(target) ?? []), ...m[2]!.replace('|', ' ').trim().split(/\s+/).filter(Boolean)]);
      if (!goal && !target.startsWith('.')) goal = target;
    }
  }
  return { rules, goal };
}

function reaches(rules: Map<string, string[]>, from: string, to: string, seen = new Set<string>()): boolean {
  if (from === to) return true;
  if (seen.has(from)) return false;
  seen.add(from);
  return (rules.get(from) ?? []).some((p) => reaches(rules, p, to, seen));
}

const makefile = readFileSync(join(ROOT, 'Makefile'), 'utf8');
const noBinaryRule = makeRules(makefile).rules.has('dist/tsjail') ? undefined : 'the Makefile has no dist/tsjail rule yet (the single binary, issue 16)';
if (noBinaryRule) console.warn(`SKIP (single binary): ${noBinaryRule}`);

describe('deploy/Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
  const stages = text
    .split('\n')
    .filter((l) => l.trim() && !l.trim().startsWith('#'))
    .reduce<Array<{ from: string; name?: string; lines: string[] }>>((acc, l) => {
      const m = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(l);
      if (m) acc.push({ from: m[1]!, name: m[2], lines: [] });
      else acc.at(-1)?.lines.push(l.trim());
      return acc;
    }, []);
  const [build, final] = [stages[0]!, stages.at(-1)!];

  it('keeps only the single binary, on a slim base, as the entry point', () => {
    expect(stages).toHaveLength(2);
    expect(final.from).toMatch(/-slim$/);
    const copies = final.lines.filter((l) => l.startsWith('COPY'));
    expect(copies).toEqual([`COPY --from=${build.name} /src/dist/tsjail /usr/local/bin/tsjail`]);
    expect(final.lines).toContain('ENTRYPOINT ["/usr/local/bin/tsjail"]');
    // deployment.yaml's wrapper needs a shell and mount(8), and the directory it mounts on.
    expect(final.from).toMatch(/^debian:/);
    expect(final.lines.join('\n')).toMatch(/mkdir -p .*\/run\/tsjail\/proc/);
  });

  it('builds what it copies: make in the whole source tree, at the path it copies from', () => {
    expect(build.lines).toContain('WORKDIR /src');
    const copyAll = build.lines.indexOf('COPY . .');
    const make = build.lines.indexOf('RUN make');
    expect(copyAll).toBeGreaterThan(-1);
    expect(make).toBeGreaterThan(copyAll);
  });

  it.skipIf(!!noBinaryRule)("the Makefile's default goal is, or leads to, dist/tsjail", () => {
    const { rules, goal } = makeRules(makefile);
    expect(goal).toBeDefined();
    expect(reaches(rules, goal!, 'dist/tsjail')).toBe(true);
  });
});
