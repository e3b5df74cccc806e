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
