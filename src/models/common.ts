import { ConfigError } from '../errors.js';
import type { FeedbackStrategy } from '../feedback/strategy.js';
import { symmetric } from '../feedback/symmetric.js';

/**
 * A strategy for every weighted layer, or a function choosing one by the layer's position among
 * the weighted layers (0 for the first dense or conv layer, 1 for the next, …; not its index in
 * `model.layers`).
 */
export type FeedbackChoice = FeedbackStrategy | ((weightedIndex: number) => FeedbackStrategy);

/** Resolves a {@link FeedbackChoice} for one weighted layer (symmetric when nothing is chosen). */
export function feedbackAt(choice: FeedbackChoice | undefined, index: number): FeedbackStrategy {
  if (choice === undefined) return symmetric();
  const strategy = typeof choice === 'function' ? choice(index) : choice;
  if (typeof strategy?.bind !== 'function' || typeof strategy.spec !== 'object' || !Array.isArray(strategy.appliesTo)) {
    throw new ConfigError(`feedback for weighted layer ${index}`, strategy, 'a FeedbackStrategy, e.g. usf() or symmetric()');
  }
  return strategy;
}
