/**
 * What the single binary carries inside itself. In the npm package nothing is
 * embedded: the native parts are files beside the code (the config schema is
 * code, src/config/schema.gen.ts, in both). The
 * single-binary build (.ci/sea.mjs) puts bin/sea-embedded.ts in this module's
 * place.
 */
export type AssetName = 'koffi.node' | 'libtsjail.so' | 'tsjail-exec' | 'tsjail-init' | 'tsjail-nsfd';

export interface Embedded {
  /** Writes an asset's bytes to fd (a memfd or an anonymous file); throws with the call that failed. */
  copyAsset(name: AssetName, fd: number): void;
  /** The notification worker's bundled code (src/notify/worker.ts), run with new Worker(…, { eval: true }). */
  workerSource?(): string;
  /** Offsets where each line of the bundle starts (the logger's caller line, without V8's scan). */
  lineStarts?(): Int32Array;
}

export const embedded: Embedded | undefined = undefined;
