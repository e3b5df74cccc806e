/**
 * IDX files, MNIST's format, written for tests: a magic word (two zero bytes, the element type,
 * the rank), the dimensions as big-endian uint32, then the data. Imports nothing from the library,
 * so that the packed package's test can use it too.
 */
export function idxFile(dims: readonly number[], data: ArrayLike<number>, type = 0x08): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out[2] = type;
  out[3] = dims.length;
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d >>> 0, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
