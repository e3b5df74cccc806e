import { ConfigError } from '../errors.js';

/** A learning rate per epoch (epochs counted from 0). {@link train} sets `optimizer.lr` to `at(epoch)` before each epoch. */
export interface LrSchedule {
  /** A description for logs, e.g. `protocol(0.1, ÷10 from epoch 8)`. */
  readonly name: string;
  /** The learning rate of an epoch (0-based). */
  at(epoch: number): number;
}

function checkLr(lr: unknown): number {
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw new ConfigError('lr', lr, 'a finite number ≥ 0');
  return lr;
}

function checkGamma(gamma: unknown): number {
  if (typeof gamma !== 'number' || !Number.isFinite(gamma) || gamma <= 0) throw new ConfigError('gamma', gamma, 'a finite number > 0');
  return gamma;
}

/** The same learning rate every epoch. Throws a {@link ConfigError} unless `lr` is finite and ≥ 0. */
export function constantLr(lr: number): LrSchedule {
  checkLr(lr);
  return { name: `constant(${lr})`, at: () => lr };
}

/**
 * `lr · gamma^⌊epoch / stepSize⌋` (PyTorch's StepLR). Throws a {@link ConfigError} for a negative
 * `lr`, a `gamma` ≤ 0 or a `stepSize` that is not a positive integer.
 */
export function stepLr(lr: number, stepSize: number, gamma = 0.1): LrSchedule {
  checkLr(lr);
  checkGamma(gamma);
  if (!Number.isInteger(stepSize) || stepSize <= 0) throw new ConfigError('stepSize', stepSize, 'a positive integer');
  return { name: `step(${lr}, every ${stepSize}, ×${gamma})`, at: (epoch) => lr * gamma ** Math.floor(epoch / stepSize) };
}

/**
 * `lr · gamma^(number of milestones ≤ epoch)` (PyTorch's MultiStepLR). Throws a
 * {@link ConfigError} for a negative `lr`, a `gamma` ≤ 0 or a milestone that is not an integer ≥ 0.
 */
export function multiStepLr(lr: number, milestones: readonly number[], gamma = 0.1): LrSchedule {
  checkLr(lr);
  checkGamma(gamma);
  for (const m of milestones) if (!Number.isInteger(m) || m < 0) throw new ConfigError('milestones', milestones, 'non-negative integers');
  const sorted = [...milestones].sort((a, b) => a - b);
  return {
    name: `multistep(${lr}, at ${sorted.join(',')}, ×${gamma})`,
    at: (epoch) => lr * gamma ** sorted.filter((m) => m <= epoch).length,
  };
}

/**
 * The protocol's schedule: `lr` for the first 70% of the epochs and `lr/10` for the last 30%
 * (rounded: 10 epochs give epochs 1–7 at lr and 8–10 at lr/10).
 *
 * @throws {@link ConfigError} unless `epochs` is a positive integer and `lr` finite and ≥ 0.
 *
 * @example
 * ```ts
 * import { protocolSchedule } from 'asymprop';
 *
 * const schedule = protocolSchedule(0.1, 10);
 * console.log(schedule.name, [0, 6, 7, 9].map((e) => schedule.at(e))); // protocol(0.1, ÷10 from epoch 8) [ 0.1, 0.1, 0.010000000000000002, 0.010000000000000002 ]
 * ```
 */
export function protocolSchedule(lr: number, epochs: number): LrSchedule {
  if (!Number.isInteger(epochs) || epochs <= 0) throw new ConfigError('epochs', epochs, 'a positive integer');
  const milestone = epochs - Math.round(0.3 * epochs);
  return { ...multiStepLr(lr, [milestone], 0.1), name: `protocol(${lr}, ÷10 from epoch ${milestone + 1})` };
}
