/**
 * embedded.ts in the single binary: the assets .ci/sea.mjs put into its SEA
 * blob, and the config schema inlined by esbuild (TSJAIL_SCHEMA).
 */
import { getRawAsset } from 'node:sea';
import type { AssetName, Embedded } from '../embedded.js';

declare const TSJAIL_SCHEMA: unknown;

export const embedded: Embedded | undefined = {
  asset: (name: AssetName) => new Uint8Array(getRawAsset(name) as ArrayBuffer),
  schema: TSJAIL_SCHEMA,
};
