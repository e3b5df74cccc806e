import type { EncodedArray } from '../tensor/encode.js';
import type { Param } from '../tensor/param.js';

/** Updates parameters from their accumulated gradients. */
export interface Optimizer {
  /** The parameters being optimised, in a fixed order. */
  readonly params: readonly Param[];
  /** Current learning rate (schedules set it between epochs). */
  lr: number;
  /** Number of steps taken. */
  readonly steps: number;
  /** One update from the current gradients. */
  step(): void;
  /** Zeroes every parameter's gradient. */
  zeroGrad(): void;
  /** Everything needed to resume (buffers keyed by parameter name), JSON-safe. */
  state(): OptimizerState;
  /** Restores {@link Optimizer.state} for the same parameter names and shapes. */
  loadState(state: OptimizerState): void;
}

/** JSON-safe optimizer state. */
export interface OptimizerState {
  /** The optimizer's kind, e.g. `sgd`; loading another kind's state is refused. */
  readonly type: string;
  /** The learning rate when the state was taken. */
  readonly lr: number;
  /** Steps taken. */
  readonly steps: number;
  /** Per-parameter buffers (SGD: the momentum buffers), keyed by parameter name. */
  readonly buffers: Readonly<Record<string, EncodedArray>>;
}
