// Types for the one seedrandom algorithm we load directly (the package's index also pulls in
// Node's `crypto` for auto-seeding, which we never use and which browser bundlers reject).
declare module 'seedrandom/lib/alea.js' {
  interface AleaState { c: number; s0: number; s1: number; s2: number }
  interface AleaPrng {
    (): number;
    int32(): number;
    double(): number;
    quick(): number;
    state(): AleaState;
  }
  function alea(seed: string, options: { state: true | AleaState }): AleaPrng;
  export = alea;
}

// seedrandom's xor128 (Marsaglia's xorshift), the fast stream behind Rng.fillUniform24.
declare module 'seedrandom/lib/xor128.js' {
  interface Xor128State { x: number; y: number; z: number; w: number }
  interface Xor128Prng {
    (): number;
    int32(): number;
    state(): Xor128State;
  }
  function xor128(seed: string, options: { state: true | Xor128State }): Xor128Prng;
  export = xor128;
}
