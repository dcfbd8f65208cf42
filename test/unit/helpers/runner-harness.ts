/**
 * A small C program around native/runner.c for tests that run encoded plans:
 * it reads a plan file (argv[1]) into `blob`/`n`, then runs the test's own
 * `body` (which calls tsj_run_plan and prints what it needs).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../../..');

export const hasCc = spawnSync('sh', ['-c', 'command -v cc'], { stdio: 'ignore' }).status === 0;

/** Writes and compiles the harness in `dir`; returns the executable's path. */
export function buildRunner(dir: string, body: string): string {
  writeFileSync(
    join(dir, 'run.c'),
    `#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "tsjail.h"
int main(int argc, char **argv) {
  FILE *f = fopen(argv[1], "rb");
  static uint8_t blob[1 << 16];
  size_t n = fread(blob, 1, sizeof blob, f);
${body}
}
`,
  );
  const exe = join(dir, 'run');
  execFileSync('cc', ['-std=gnu11', '-I', join(ROOT, 'native'), '-o', exe, join(dir, 'run.c'), join(ROOT, 'native/runner.c')]);
  return exe;
}
