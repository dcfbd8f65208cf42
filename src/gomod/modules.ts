/**
 * Which module a function belongs to: its package path, taken from the
 * symbol name the way Go's tools do it, then the longest module path among
 * the binary's main module and dependencies that is that package or one of
 * its parents. A nested module (example.com/a/b beside example.com/a) is
 * thus told apart, and standard-library packages (no module of the build
 * names them) belong to none.
 */

/**
 * `example.com/dep/sub.(*T).Method[...]` → `example.com/dep/sub`. Compiler-made
 * symbols and names without a package have none. The compiler escapes dots (and %, ", control
 * characters) in the last path element as %xx: they are decoded.
 */
export function packageOf(name: string): string | undefined {
  const open = name.indexOf('[');
  if (open >= 0) {
    const close = name.lastIndexOf(']');
    name = close > open ? name.slice(0, open) + name.slice(close + 1) : name.slice(0, open);
  }
  // Compiler-made symbols (go:, type: since Go 1.20; go.itab…, type..eq… before) yield a "package"
  // that no module path prefixes, so the module lookup drops them without a rule that would also
  // swallow modules such as go.uber.org.
  if (name.startsWith('go:') || name.startsWith('type:')) return undefined;
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  if (dot <= 0) return undefined;
  const pkg = name.slice(0, dot);
  return pkg.includes('%') ? decodePercent(pkg) : pkg;
}

function decodePercent(s: string): string {
  return s.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

/** Module paths of one binary, longest first, for prefix lookups. */
export class ModuleIndex {
  private readonly paths: readonly string[];
  constructor(paths: Iterable<string>) {
    this.paths = [...new Set(paths)].filter(Boolean).sort((a, b) => b.length - a.length);
  }

  /** The module holding package pkg, or undefined (the standard library, `main`, generated code). */
  moduleOf(pkg: string): string | undefined {
    for (const m of this.paths) if (pkg === m || (pkg.startsWith(m) && pkg.charCodeAt(m.length) === 0x2f)) return m;
    return undefined;
  }

  /** The module of function `name`. */
  moduleOfFunc(name: string): string | undefined {
    const pkg = packageOf(name);
    return pkg === undefined ? undefined : this.moduleOf(pkg);
  }
}
