/**
 * Go's unsigned varint (encoding/binary's uvarint): seven bits a byte, least
 * significant first, the high bit set on every byte but the last. The build
 * info's string lengths and the pc-value tables of pclntab use it.
 */

/** The value at `at` and the offset after it; undefined past `maxBytes` bytes or the buffer's end (malformed). */
export function uvarint(b: Uint8Array, at: number, maxBytes = 10): [value: number, next: number] | undefined {
  let v = 0;
  let mul = 1;
  for (let i = at; i < b.length && i < at + maxBytes; i++) {
    v += (b[i]! & 0x7f) * mul;
    if ((b[i]! & 0x80) === 0) return [v, i + 1];
    mul *= 128;
  }
  return undefined;
}
