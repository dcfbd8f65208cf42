/**
 * embedded.ts in the single binary. The native parts are the assets of its
 * SEA blob, but for koffi's module (1.2 MB): .ci/sea.mjs appends that one to
 * the executable after the blob, with the bundle and its code cache, and the
 * binary's loader reads them with read(2) (a page read through the blob's
 * mapping would stay in tsjail's resident memory for the run). The loader
 * hands over its reader of those parts under Symbol.for('tsjail.parts').
 */
import { writeSync } from 'node:fs';
import { getAsset, getRawAsset } from 'node:sea';
import type { AssetName, Embedded } from '../embedded.js';

interface Parts {
  has(name: string): boolean;
  copy(name: string, fd: number): void;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
}

function copyAsset(name: AssetName, fd: number): void {
  const parts = (globalThis as Record<symbol, Parts | undefined>)[Symbol.for('tsjail.parts')];
  if (parts?.has(name)) parts.copy(name, fd);
  else writeAll(fd, new Uint8Array(getRawAsset(name) as ArrayBuffer));
}

export const embedded: Embedded | undefined = {
  copyAsset,
  workerSource: () => getAsset('notify-worker.js', 'utf8'),
  lineStarts: () => new Int32Array(getRawAsset('tsjail.lines') as ArrayBuffer),
};
