/**
 * The matrix-product kernels, generated at run time.
 *
 * `gemm` computes one 4×8 block of C in eight 128-bit registers at a time: for each step p along
 * the inner dimension it loads the 8 values of the packed B panel once (two f32x4 vectors), then
 * for each of the 4 rows broadcasts A's value (`v128.load32_splat`) and accumulates 2 products. A
 * is read in place; B is packed into 8-column panels (`packB`, `packBT`), so every B load in the
 * inner loop is contiguous. Loading B once per step rather than once per row, and A once per row
 * rather than once per product, took the kernel from about 11 to about 30 GFLOP/s on one core: V8
 * does not merge repeated loads from WebAssembly memory. A 6×8 block (12 accumulators) was
 * slower: with the three working registers it needs more than the 16 vector registers V8
 * allocates on x64.
 *
 * Every element of C is the sum of its products in the order of p, one f32 multiply and one f32
 * add each (no fused multiply-add): however a product is cut into bands (threads) or chunks of the
 * inner dimension, each element comes out the same to the bit.
 */
import { F32X4_ADD, F32X4_MUL, I32, V128, V128_CONST, V128_LOAD, V128_LOAD32_SPLAT, V128_STORE, i32Const as i32c, localGet as lget, localSet as lset, memarg, op, simd, uleb, vec, type WasmFunction } from './assembler.js';
import { F32, Fn, I32 as I, V, call, get, i32, type Code } from './builder.js';

/** Rows of C per kernel block (the kernel computes KERNEL_ROWS × 8 blocks in registers). */
export const KERNEL_ROWS = 4;

/**
 * Steps of the inner dimension per kernel call. A long product is split into chunks of KC steps,
 * each added to C: a chunk of A's rows (4 × KC) and of B's panels (nb × KC × 8) stays in cache
 * while the kernel walks over the blocks of C, instead of streaming the whole of A and B from
 * memory once per block.
 */
export const KC = 256;

/**
 * The kernel's code. Parameters: mb (blocks of 4 rows), nb (blocks of 8 columns), k (steps along
 * the inner dimension in this call), aPtr, bPtr, cPtr (byte addresses), ldc (bytes per row of the
 * padded C), aRow (bytes between rows of A), aStep (bytes between consecutive p in a row of A),
 * m (rows of A: rows past it repeat the last row, and their results are dropped by the caller),
 * bPanel (bytes between B's 8-column panels), acc (0: C = A·B; otherwise C += A·B). A is read in
 * place, in either layout; B is packed into 8-column panels. Locals: ib, jb, p, b, c, row, cr, the
 * row pointers into A, then the v128 accumulators, B's two vectors and A's splat.
 *
 * With `acc` the caller can split a long inner dimension into chunks that stay in cache, adding
 * each chunk's product to C.
 */
function gemmBody(): number[] {
  const R = KERNEL_ROWS;
  const [MB, NB, K, AP, BP, CP, LDC, AROW, ASTEP, M, BPANEL, ACCF] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const [IB, JB, P, B, C, ROW, CR] = [12, 13, 14, 15, 16, 17, 18];
  const A0 = 19; //            A0 … A0+R−1: the R row pointers into A
  const ACC = A0 + R; //       ACC … ACC+2R−1: the 2R accumulators (row r, half h at ACC + 2r + h)
  const [B0, B1, AS] = [ACC + 2 * R, ACC + 2 * R + 1, ACC + 2 * R + 2]; // this step's B vectors, A splat
  const zero128 = [...simd(V128_CONST), ...new Array(16).fill(0)];
  const code: number[] = [];
  const emit = (...parts: number[][]) => parts.forEach((p) => code.push(...p));

  emit(i32c(0), lset(IB));
  emit([op.block, 0x40], [op.loop, 0x40]); // rows of blocks
  emit(lget(IB), lget(MB), [op.i32GeU], [op.br_if, 1]);
  emit(i32c(0), lset(JB));
  emit([op.block, 0x40], [op.loop, 0x40]); // columns of blocks
  emit(lget(JB), lget(NB), [op.i32GeU], [op.br_if, 1]);
  // c = cPtr + ib·R·ldc + jb·32: the R×8 block of C
  emit(lget(CP), lget(IB), i32c(R), [op.i32Mul], lget(LDC), [op.i32Mul], [op.i32Add], lget(JB), i32c(5), [op.i32Shl], [op.i32Add], lset(C));
  // accumulators ← the block of C (acc ≠ 0) or zeros
  emit(lget(ACCF), [op.if, 0x40], lget(C), lset(CR));
  for (let r = 0; r < R; r++) {
    for (let h = 0; h < 2; h++) emit(lget(CR), simd(V128_LOAD), memarg(4, 16 * h), lset(ACC + 2 * r + h));
    if (r < R - 1) emit(lget(CR), lget(LDC), [op.i32Add], lset(CR));
  }
  emit([op.else]);
  for (let r = 0; r < 2 * R; r++) emit(zero128, lset(ACC + r));
  emit([op.end]);
  // a_r = aPtr + min(R·ib + r, m − 1)·aRow
  for (let r = 0; r < R; r++) {
    emit(lget(IB), i32c(R), [op.i32Mul], i32c(r), [op.i32Add], lset(ROW));
    emit(lget(ROW), lget(M), [op.i32GeU], [op.if, 0x40], lget(M), i32c(1), [op.i32Sub], lset(ROW), [op.end]);
    emit(lget(AP), lget(ROW), lget(AROW), [op.i32Mul], [op.i32Add], lset(A0 + r));
  }
  // b = bPtr + jb·bPanel
  emit(lget(BP), lget(JB), lget(BPANEL), [op.i32Mul], [op.i32Add], lset(B));
  emit(i32c(0), lset(P));
  emit([op.block, 0x40], [op.loop, 0x40]); // the inner dimension
  emit(lget(P), lget(K), [op.i32GeU], [op.br_if, 1]);
  // the 8 values of B at step p, once; then per row: one splat of A[row r, p], two multiply-adds
  emit(lget(B), simd(V128_LOAD), memarg(4, 0), lset(B0));
  emit(lget(B), simd(V128_LOAD), memarg(4, 16), lset(B1));
  for (let r = 0; r < R; r++) {
    emit(lget(A0 + r), simd(V128_LOAD32_SPLAT), memarg(2, 0), lset(AS));
    for (let h = 0; h < 2; h++) {
      // acc[r][h] += splat(A[row r, p]) * B[p, 8 columns][h]
      emit(lget(ACC + 2 * r + h), lget(AS), lget(h === 0 ? B0 : B1), simd(F32X4_MUL), simd(F32X4_ADD), lset(ACC + 2 * r + h));
    }
    emit(lget(A0 + r), lget(ASTEP), [op.i32Add], lset(A0 + r));
  }
  emit(lget(B), i32c(32), [op.i32Add], lset(B));
  emit(lget(P), i32c(1), [op.i32Add], lset(P));
  emit([op.br, 0], [op.end, op.end]);
  // store the R×8 block
  for (let r = 0; r < R; r++) {
    for (let h = 0; h < 2; h++) {
      emit(lget(C), lget(ACC + 2 * r + h), simd(V128_STORE), memarg(4, 16 * h));
    }
    if (r < R - 1) emit(lget(C), lget(LDC), [op.i32Add], lset(C));
  }
  emit(lget(JB), i32c(1), [op.i32Add], lset(JB));
  emit([op.br, 0], [op.end, op.end]);
  emit(lget(IB), i32c(1), [op.i32Add], lset(IB));
  emit([op.br, 0], [op.end, op.end]);
  emit([op.end]);
  const locals = vec([
    [...uleb(7 + R), I32],
    [...uleb(2 * R + 3), V128],
  ]);
  return [...locals, ...code];
}

/** The block kernel: `gemm(mb, nb, k, a, b, c, ldc, aRow, aStep, m, bPanel, acc)` (see {@link gemmBody}). */
export function gemmKernel(): WasmFunction {
  return { name: 'gemm', params: 12, body: gemmBody() };
}

/** Panels of B per group: a group's chunk of panels (8 × KC values each, 256 KiB in all) stays in cache while every row block of A passes over it. */
export const PANEL_GROUP = 32;

/**
 * `gemmChunks(mb, nb, k, a, b, c, ldc, aRow, aStep, m, bPanel)`: a whole band of a product, in
 * groups of {@link PANEL_GROUP} column panels, each with its inner dimension in chunks of
 * {@link KC} steps (the first overwrites C, the others add to it), calling the block kernel
 * (function `gemmIndex` of the module) once per group and chunk. Each element of C still sums its
 * products in the order of p.
 */
export function gemmChunks(gemmIndex: number): WasmFunction {
  const fn = new Fn('gemmChunks', ['mb', 'nb', 'k', 'a', 'b', 'c', 'ldc', 'aRow', 'aStep', 'm', 'bPanel']);
  const [mb, nb, k, a, b, c, ldc, aRow, aStep, m, bPanel] = fn.ps('mb', 'nb', 'k', 'a', 'b', 'c', 'ldc', 'aRow', 'aStep', 'm', 'bPanel');
  const [j0, p0] = [fn.local('i32'), fn.local('i32')];
  fn.if(I.eqz(I.mul(get(mb), get(nb))), () => fn.emit([op.return]));
  fn.for(j0, i32(0), get(nb), PANEL_GROUP, () => {
    fn.for(p0, i32(0), get(k), KC, () => {
      fn.emit(call(gemmIndex, get(mb), I.min(i32(PANEL_GROUP), I.sub(get(nb), get(j0))), I.min(i32(KC), I.sub(get(k), get(p0))),
        I.add(get(a), I.mul(get(p0), get(aStep))), I.add(I.add(get(b), I.mul(get(j0), get(bPanel))), I.shl(get(p0), i32(5))),
        I.add(get(c), I.shl(get(j0), i32(5))), get(ldc), get(aRow), get(aStep), get(m), get(bPanel), I.ne(get(p0), i32(0))));
    });
  });
  return fn.build();
}

/**
 * `packB(b, dst, k, n, from, to)`: panels `from` … `to − 1` of a k×n row-major B, each panel j
 * holding, for every p, B[p, 8j … 8j + 7] (columns past n as zeros), at `dst + j·32k`.
 */
export function packB(): WasmFunction {
  const fn = new Fn('packB', ['b', 'dst', 'k', 'n', 'from', 'to']);
  const [b, dst, k, n, from, to] = fn.ps('b', 'dst', 'k', 'n', 'from', 'to');
  const [jb, p, src, out, q, cols] = [fn.local('i32'), fn.local('i32'), fn.local('i32'), fn.local('i32'), fn.local('i32'), fn.local('i32')];
  fn.for(jb, get(from), get(to), 1, () => {
    fn.set(cols, I.min(i32(8), I.sub(get(n), I.shl(get(jb), i32(3)))));
    fn.set(out, I.add(get(dst), I.mul(I.shl(get(jb), i32(5)), get(k))));
    fn.set(src, I.add(get(b), I.shl(get(jb), i32(5))));
    fn.for(p, i32(0), get(k), 1, () => {
      fn.if(I.eq(get(cols), i32(8)), () => {
        fn.emit(V.store(get(out), V.load(get(src))), V.store(get(out), V.load(get(src), 16), 16));
      }, () => {
        fn.for(q, i32(0), i32(8), 1, () => {
          const at = I.add(get(out), I.shl(get(q), i32(2)));
          fn.if(I.ltU(get(q), get(cols)), () => fn.emit(F32.store(at, F32.load(I.add(get(src), I.shl(get(q), i32(2)))))), () => fn.emit(F32.store(at, F32.const(0))));
        });
      });
      fn.inc(out, 32);
      fn.inc(src, I.shl(get(n), i32(2)));
    });
  });
  return fn.build();
}

/**
 * `packBT(b, dst, k, n, from, to)`: the same panels from a B stored transposed (n×k row-major,
 * `transB`): panel j, step p holds B[8j … 8j + 7, p].
 */
export function packBT(): WasmFunction {
  const fn = new Fn('packBT', ['b', 'dst', 'k', 'n', 'from', 'to']);
  const [b, dst, k, n, from, to] = fn.ps('b', 'dst', 'k', 'n', 'from', 'to');
  const [jb, q, p, src, out, j] = [fn.local('i32'), fn.local('i32'), fn.local('i32'), fn.local('i32'), fn.local('i32'), fn.local('i32')];
  fn.for(jb, get(from), get(to), 1, () => {
    fn.for(q, i32(0), i32(8), 1, () => {
      fn.set(j, I.add(I.shl(get(jb), i32(3)), get(q)));
      fn.set(out, I.add(I.add(get(dst), I.mul(I.shl(get(jb), i32(5)), get(k))), I.shl(get(q), i32(2))));
      fn.if(I.ltU(get(j), get(n)), () => {
        fn.set(src, I.add(get(b), I.shl(I.mul(get(j), get(k)), i32(2))));
        fn.for(p, i32(0), get(k), 1, () => {
          fn.emit(F32.store(get(out), F32.load(get(src))));
          fn.inc(out, 32);
          fn.inc(src, 4);
        });
      }, () => {
        fn.for(p, i32(0), get(k), 1, () => {
          fn.emit(F32.store(get(out), F32.const(0)));
          fn.inc(out, 32);
        });
      });
    });
  });
  return fn.build();
}

/**
 * `unpad(src, ld, dst, n, from, to, acc)`: rows `from` … `to − 1` of a product left with rows of
 * `ld` bytes, copied into (acc = 0) or added to (acc ≠ 0) the packed m×n matrix at dst.
 */
export function unpad(): WasmFunction {
  const fn = new Fn('unpad', ['src', 'ld', 'dst', 'n', 'from', 'to', 'acc']);
  const [src, ld, dst, n, from, to, acc] = fn.ps('src', 'ld', 'dst', 'n', 'from', 'to', 'acc');
  const [i, j, s, d, n4] = [fn.local('i32'), fn.local('i32'), fn.local('i32'), fn.local('i32'), fn.local('i32')];
  const at = (x: typeof d) => I.add(get(x), I.shl(get(j), i32(2)));
  /** Over each row of the range: `vector()` for four columns at a time, then `scalar()` for the rest. */
  const rows = (vector: () => Code, scalar: () => Code) => {
    fn.for(i, get(from), get(to), 1, () => {
      fn.set(s, I.add(get(src), I.mul(get(i), get(ld))));
      fn.set(d, I.add(get(dst), I.shl(I.mul(get(i), get(n)), i32(2))));
      fn.for(j, i32(0), get(n4), 4, () => fn.emit(vector()));
      fn.for(j, get(n4), get(n), 1, () => fn.emit(scalar()));
    });
  };
  fn.set(n4, I.and(get(n), i32(-4)));
  fn.if(get(acc), () => rows(() => V.store(at(d), V.f32x4Add(V.load(at(d)), V.load(at(s)))), () => F32.store(at(d), F32.add(F32.load(at(d)), F32.load(at(s))))),
    () => rows(() => V.store(at(d), V.load(at(s))), () => F32.store(at(d), F32.load(at(s)))));
  return fn.build();
}
