import { ConfigError } from '../errors.js';

/** A learning rate per epoch (epochs counted from 0). */
export interface LrSchedule {
  readonly name: string;
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

/** The same learning rate every epoch. */
export function constantLr(lr: number): LrSchedule {
  checkLr(lr);
  return { name: `constant(${lr})`, at: () => lr };
}

/** `lr · gamma^⌊epoch / stepSize⌋` (PyTorch's StepLR). */
export function stepLr(lr: number, stepSize: number, gamma = 0.1): LrSchedule {
  checkLr(lr);
  checkGamma(gamma);
  if (!Number.isInteger(stepSize) || stepSize <= 0) throw new ConfigError('stepSize', stepSize, 'a positive integer');
  return { name: `step(${lr}, every ${stepSize}, ×${gamma})`, at: (epoch) => lr * gamma ** Math.floor(epoch / stepSize) };
}

/** `lr · gamma^(number of milestones ≤ epoch)` (PyTorch's MultiStepLR). */
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
 */
export function protocolSchedule(lr: number, epochs: number): LrSchedule {
  if (!Number.isInteger(epochs) || epochs <= 0) throw new ConfigError('epochs', epochs, 'a positive integer');
  const milestone = epochs - Math.round(0.3 * epochs);
  return { ...multiStepLr(lr, [milestone], 0.1), name: `protocol(${lr}, ÷10 from epoch ${milestone + 1})` };
}
