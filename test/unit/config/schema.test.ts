/**
 * proto/config.proto is the one schema: the module generated from it must be
 * current.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OUT, renderSchemaModule } from '../../../.ci/gen-schema.mjs';

describe('src/config/schema.gen.ts', () => {
  it('is what .ci/gen-schema.mjs makes of proto/config.proto (run it after editing the .proto)', () => {
    expect(readFileSync(OUT, 'utf8')).toBe(renderSchemaModule());
  });
});
