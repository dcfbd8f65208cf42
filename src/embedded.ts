/**
 * What the single binary carries inside itself. In the npm package nothing is
 * embedded: the schema and the native parts are files beside the code. The
 * single-binary build (.ci/sea.mjs) puts bin/sea-embedded.ts in this module's
 * place.
 */
export type AssetName = 'koffi.node' | 'libtsjail.so' | 'tsjail-exec' | 'tsjail-init';

export interface Embedded {
  /** An asset's bytes, read in place from the executable (no copy). */
  asset(name: AssetName): Uint8Array;
  /** dist/config/schema.json as built with the binary. */
  readonly schema: unknown;
}

export const embedded: Embedded | undefined = undefined;
