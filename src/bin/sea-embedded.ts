/**
 * embedded.ts in the single binary: the assets .ci/sea.mjs put into its SEA
 * blob.
 */
import { getAsset, getRawAsset } from 'node:sea';
import type { AssetName, Embedded } from '../embedded.js';

export const embedded: Embedded | undefined = {
  asset: (name: AssetName) => new Uint8Array(getRawAsset(name) as ArrayBuffer),
  workerSource: () => getAsset('notify-worker.js', 'utf8'),
  lineStarts: () => new Int32Array(getRawAsset('tsjail.lines') as ArrayBuffer),
};
