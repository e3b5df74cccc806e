/** The messages between the page and a training worker. */
import type { RunSettings } from './settings.js';

/** Page → worker. */
export type ToWorker =
  /**
   * Build a fresh run (network, optimizer, data order) from the settings; the run stays paused.
   * Every later message from the worker carries `run`, so the page can drop the reports of an
   * older run still on their way.
   */
  | { readonly type: 'init'; readonly run: number; readonly settings: RunSettings; readonly digits: ArrayBuffer | null }
  /**
   * Set the learning rate of the run in progress: the one setting that changes the update, not the
   * network, so it applies at once. Every other setting builds a fresh run ('init').
   */
  | { readonly type: 'lr'; readonly lr: number }
  | { readonly type: 'run' }
  | { readonly type: 'pause' };

/** Per dense layer, measured on one instrumented training step. Angles in degrees, NaN where undefined. */
export interface LayerReport {
  /** Angle between V and W as flat vectors. */
  readonly angleVW: number;
  /** Fraction of entries where V and W have the same sign. */
  readonly signConcordance: number;
  /** Angle between the error the layer sends down and the one true backprop would send there. */
  readonly errorAngle: number;
}

/** The predicted class on a grid over the input plane, row after row from the top (spirals only). */
export interface BoundaryGrid {
  readonly size: number;
  /** The grid spans [-extent, extent] on both axes. */
  readonly extent: number;
  readonly classes: Uint8Array;
  /** Softmax probability of the predicted class. */
  readonly confidence: Float32Array;
}

/** Worker → page: one of these, tagged with the `run` of the 'init' message it answers. */
export type FromWorker = WorkerReport & { readonly run: number };

/** What the worker reports. */
export type WorkerReport =
  /** A run was built: its training points (spirals), the names of its strategies, the untrained network's test result. */
  | {
      readonly type: 'ready';
      readonly points: { readonly features: Float32Array; readonly labels: Uint8Array } | null;
      readonly strategies: readonly string[];
      readonly testLoss: number;
      readonly testAccuracy: number;
      readonly boundary: BoundaryGrid | null;
      readonly predictions: Uint8Array | null;
      /** Threads the worker's matrix products run on (2 when the page is cross-origin isolated). */
      readonly threads: number;
    }
  /** Some training steps were taken. */
  | {
      readonly type: 'progress';
      readonly step: number;
      /** Epochs done, fractional. */
      readonly epoch: number;
      /** Mean training loss and accuracy over the steps since the last report. */
      readonly loss: number;
      readonly trainAccuracy: number;
      /** Present when the test set was evaluated at this step. */
      readonly test: { readonly loss: number; readonly accuracy: number } | null;
      /** Present when one of the steps was instrumented. */
      readonly layers: readonly LayerReport[] | null;
      /** The strategy of each dense layer, as the network now has it (e.g. `bm+usf`). */
      readonly strategies: readonly string[];
      readonly boundary: BoundaryGrid | null;
      /** Predicted class of the {@link shownDigits} (MNIST only, with each test evaluation). */
      readonly predictions: Uint8Array | null;
    }
  /** The learning rate of an 'lr' message is now in force. */
  | { readonly type: 'lr-set'; readonly lr: number }
  /** Training stopped because the loss became NaN or infinite. */
  | { readonly type: 'diverged'; readonly step: number; readonly loss: number }
  | { readonly type: 'error'; readonly message: string };

/** How many test digits the page shows with their predicted class. */
export const SHOWN_DIGITS = 24;

/** Which test digits the page shows: evenly spread over the test set (which lists them class by class). */
export function shownDigits(testSize: number): number[] {
  const n = Math.min(SHOWN_DIGITS, testSize);
  return Array.from({ length: n }, (_, i) => Math.floor((i * testSize) / n));
}
