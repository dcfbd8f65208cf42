/** Architectures Kafel names in `ON` guards (case-insensitive), with their AUDIT_ARCH values. */
export interface ArchInfo {
  readonly name: string;
  readonly auditArch: number;
}

export const ARCHS: readonly ArchInfo[] = [
  { name: 'arm', auditArch: 0x40000028 },
  { name: 'aarch64', auditArch: 0xc00000b7 },
  { name: 'x86_64', auditArch: 0xc000003e },
  { name: 'x86', auditArch: 0x40000003 },
  // Little-endian MIPS (AUDIT_ARCH_MIPSEL, AUDIT_ARCH_MIPSEL64).
  { name: 'mips', auditArch: 0x40000008 },
  { name: 'mips64', auditArch: 0xc0000008 },
  { name: 'riscv64', auditArch: 0xc00000f3 },
  { name: 'm68k', auditArch: 0x00000004 },
];

const ALIASES: Readonly<Record<string, string>> = {
  arm64: 'aarch64',
  amd64: 'x86_64',
  i386: 'x86',
  mipso32: 'mips',
  rv64: 'riscv64',
};

/** Canonical arch for a Kafel (or alias) spelling, case-insensitive. */
export function archByName(name: string): ArchInfo | undefined {
  const lower = name.toLowerCase();
  const canonical = ALIASES[lower] ?? lower;
  return ARCHS.find((a) => a.name === canonical);
}
