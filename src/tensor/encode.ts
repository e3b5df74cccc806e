import { DataFormatError, describeValue } from '../errors.js';

/** A typed array in a JSON-safe form: its element type and its bytes in base64 (little-endian). */
export interface EncodedArray {
  /** The element type of the typed array. */
  readonly dtype: 'float32' | 'float64' | 'int8';
  /** The number of elements (not bytes). */
  readonly length: number;
  /** The array's bytes, little-endian, in standard base64 with padding. */
  readonly base64: string;
}

/** The typed arrays {@link encodeArray} encodes and {@link decodeArray} returns (the element types of {@link EncodedArray.dtype}). */
export type Encodable = Float32Array | Float64Array | Int8Array;

/** Node's Buffer when present: the same base64, computed natively (checkpoints hold megabytes of it). */
const nodeBuffer = (globalThis as { Buffer?: { from(buffer: ArrayBufferLike, offset: number, length: number): { toString(encoding: 'base64'): string } } }).Buffer;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

/**
 * Encodes a typed array's bytes (works the same in Node and in browsers).
 *
 * @example
 * ```ts
 * import { decodeArray, encodeArray } from 'asymprop';
 *
 * const encoded = encodeArray(Float32Array.of(1, -2.5));
 * console.log(encoded); // { dtype: 'float32', length: 2, base64: 'AACAPwAAIMA=' }
 * console.log(decodeArray(JSON.parse(JSON.stringify(encoded)))); // Float32Array(2) [ 1, -2.5 ]
 * ```
 */
export function encodeArray(array: Encodable): EncodedArray {
  const dtype = array instanceof Float64Array ? 'float64' : array instanceof Int8Array ? 'int8' : 'float32';
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  if (nodeBuffer) return { dtype, length: array.length, base64: nodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
  const parts: string[] = [];
  let chunk = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i]!, b1 = bytes[i + 1] ?? 0, b2 = bytes[i + 2] ?? 0;
    const n = (b0 << 16) | (b1 << 8) | b2;
    chunk += ALPHABET[(n >> 18) & 63]! + ALPHABET[(n >> 12) & 63]!;
    chunk += i + 1 < bytes.length ? ALPHABET[(n >> 6) & 63]! : '=';
    chunk += i + 2 < bytes.length ? ALPHABET[n & 63]! : '=';
    if (chunk.length >= 8192) { parts.push(chunk); chunk = ''; }
  }
  parts.push(chunk);
  return { dtype, length: array.length, base64: parts.join('') };
}

/**
 * Decodes {@link encodeArray}'s output into a new typed array of its element type.
 *
 * @param where names the array in error messages.
 * @throws {@link DataFormatError} naming `where` when the object is not an encoded array, its
 * element type is unknown, its length disagrees with its bytes, or its base64 is malformed.
 */
export function decodeArray(encoded: EncodedArray, where = 'encoded array'): Encodable {
  if (typeof encoded !== 'object' || encoded === null || typeof encoded.base64 !== 'string') {
    throw new DataFormatError(where, 'expected { dtype, length, base64 }');
  }
  const width = encoded.dtype === 'float64' ? 8 : encoded.dtype === 'float32' ? 4 : encoded.dtype === 'int8' ? 1 : 0;
  if (width === 0) throw new DataFormatError(where, `unknown dtype ${describeValue(encoded.dtype)} (allowed: float32, float64, int8)`);
  const s = encoded.base64;
  if (s.length % 4 !== 0) throw new DataFormatError(where, `base64 length ${s.length} is not a multiple of 4`);
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const byteLength = (s.length / 4) * 3 - pad;
  if (typeof encoded.length !== 'number' || !Number.isInteger(encoded.length) || encoded.length * width !== byteLength) {
    throw new DataFormatError(where, `length ${describeValue(encoded.length)} × ${width} bytes disagrees with ${byteLength} bytes of data`);
  }
  const bytes = new Uint8Array(byteLength);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const ch = s.charCodeAt(i + j);
      const v = ch === 61 && i + j >= s.length - pad ? 0 : ch < 128 ? LOOKUP[ch]! : -1;
      if (v < 0) throw new DataFormatError(where, `invalid base64 character at ${i + j}`);
      n = (n << 6) | v;
    }
    if (o < byteLength) bytes[o++] = (n >> 16) & 255;
    if (o < byteLength) bytes[o++] = (n >> 8) & 255;
    if (o < byteLength) bytes[o++] = n & 255;
  }
  const buf = bytes.buffer;
  return encoded.dtype === 'float64' ? new Float64Array(buf) : encoded.dtype === 'int8' ? new Int8Array(buf) : new Float32Array(buf);
}
