/**
 * Jumping ahead in Marsaglia's xorshift (seedrandom's xor128) without stepping through the numbers
 * in between, so that four stretches of one stream can be computed side by side (the SIMD lanes of
 * `xor128.ts`'s `xor128x4`).
 *
 * One step maps the state (x, y, z, w), 128 bits, linearly over GF(2) (shifts and xors only):
 * `s' = T·s`. So `d` steps are `T^d`, a 128×128 bit matrix computed by repeated squaring, and
 * applying it to a state costs 128 xors of 128-bit columns at most.
 */

/** 128 columns of 4 words: column c is the image of the state with only bit c set. */
type BitMatrix = Uint32Array;

/** Bit c of a state is bit (c mod 32) of word ⌊c / 32⌋, words in the order x, y, z, w. */
function step(s: Uint32Array): void {
  const x = s[0]!;
  const t = (x ^ (x << 11)) >>> 0;
  const w = s[3]!;
  s[0] = s[1]!;
  s[1] = s[2]!;
  s[2] = w;
  s[3] = (w ^ (w >>> 19) ^ t ^ (t >>> 8)) >>> 0;
}

/** T, one step of the recurrence, column by column. */
function oneStep(): BitMatrix {
  const m = new Uint32Array(512);
  const s = new Uint32Array(4);
  for (let c = 0; c < 128; c++) {
    s.fill(0);
    s[c >> 5] = (1 << (c & 31)) >>> 0;
    step(s);
    m.set(s, 4 * c);
  }
  return m;
}

/** `out ← a·s` (out may not be s). */
function apply(a: BitMatrix, s: Uint32Array, out: Uint32Array, outOffset = 0): void {
  let o0 = 0, o1 = 0, o2 = 0, o3 = 0;
  for (let word = 0; word < 4; word++) {
    let bits = s[word]!;
    while (bits !== 0) {
      const b = 31 - Math.clz32(bits & -bits); // the lowest set bit
      bits &= bits - 1;
      const c = 4 * (32 * word + b);
      o0 ^= a[c]!;
      o1 ^= a[c + 1]!;
      o2 ^= a[c + 2]!;
      o3 ^= a[c + 3]!;
    }
  }
  out[outOffset] = o0 >>> 0;
  out[outOffset + 1] = o1 >>> 0;
  out[outOffset + 2] = o2 >>> 0;
  out[outOffset + 3] = o3 >>> 0;
}

/** `a·b`: each column of b mapped by a. */
function multiply(a: BitMatrix, b: BitMatrix): BitMatrix {
  const out = new Uint32Array(512);
  for (let c = 0; c < 128; c++) apply(a, b.subarray(4 * c, 4 * c + 4), out, 4 * c);
  return out;
}

const cache = new Map<number, BitMatrix>();

/** T^d, cached: a layer jumps by the same few distances on every step. */
export function jumpMatrix(d: number): BitMatrix {
  if (!Number.isInteger(d) || d < 0) throw new RangeError(`jump distance must be a non-negative integer, received ${d}`);
  let m = cache.get(d);
  if (m) return m;
  let result: BitMatrix | null = null; // null: the identity
  let power = oneStep();
  for (let e = d; e > 0; e = Math.floor(e / 2)) {
    if (e % 2 === 1) result = result ? multiply(power, result) : power;
    if (e > 1) power = multiply(power, power);
  }
  if (!result) {
    result = new Uint32Array(512);
    for (let c = 0; c < 128; c++) result[4 * c + (c >> 5)] = (1 << (c & 31)) >>> 0;
  }
  if (cache.size >= 64) cache.clear(); // a handful of layer sizes in practice
  cache.set(d, (m = result));
  return m;
}

/** The xor128 state `d` numbers after `state` ([x, y, z, w] as int32 or uint32), as int32. */
export function jumpState(state: ArrayLike<number>, d: number): Int32Array {
  const s = Uint32Array.from({ length: 4 }, (_, i) => state[i]! >>> 0);
  const out = new Uint32Array(4);
  apply(jumpMatrix(d), s, out);
  return new Int32Array(out.buffer);
}
