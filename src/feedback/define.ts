import { ConfigError, describeValue } from '../errors.js';
import type { Feedback, FeedbackContext, FeedbackLayerKind, FeedbackSpec, FeedbackStrategy } from './strategy.js';
// symmetric() is called only when a strategy's `batchNorm` is read, never while modules load.
import { symmetric } from './symmetric.js';

/** Every kind of feedback layer: what a layer-wise rule applies to unless it says otherwise. */
export const ALL_LAYER_KINDS: readonly FeedbackLayerKind[] = ['dense', 'conv', 'batchnorm'];

/**
 * What a strategy's name may be: no character that would make Markdown or HTML of it where results
 * and reports print it.
 */
export const STRATEGY_NAME_RULE = '1 to 128 characters, none of them a control character or one of < > & ` * _ [ ] | \\';

/** Whether `name` follows {@link STRATEGY_NAME_RULE}. */
export function isStrategyName(name: unknown): name is string {
  return typeof name === 'string' && /^[^\u0000-\u001f\u007f<>&`*_[\]|\\]{1,128}$/u.test(name);
}

/** What {@link defineStrategy} needs to make a {@link FeedbackStrategy}. */
export interface StrategyDefinition {
  /** The display name (`usf`, `kp`, …). */
  readonly name: string;
  /** The JSON spec {@link feedbackFromSpec} rebuilds the strategy from. */
  readonly spec: FeedbackSpec;
  /** Creates one layer's binding; `strategy` is the value being defined (for `Feedback.strategy`). */
  readonly bind: (context: FeedbackContext, strategy: FeedbackStrategy) => Feedback;
  /** The kinds of layer it applies to (default: dense, conv and BatchNorm's γ). */
  readonly appliesTo?: readonly FeedbackLayerKind[];
  /** What a BatchNorm beside it gets by default (default: the exact backward, `symmetric()`). */
  readonly batchNorm?: () => FeedbackStrategy;
  /** Whether it reads the network's output error (default false; true for direct feedback). */
  readonly readsOutputError?: boolean;
}

/**
 * Makes a {@link FeedbackStrategy} from its parts, filling in the defaults of a layer-wise rule:
 * it applies to every kind of feedback layer, a BatchNorm beside it keeps the exact backward, and
 * it does not read the output error. Every built-in strategy is made this way.
 *
 * @example
 * ```ts
 * import { defineStrategy, symmetric } from 'asymprop';
 *
 * // A rule that is backprop under another name (a real rule would bind a Feedback of its own).
 * const plain = defineStrategy({ name: 'plain', spec: { type: 'custom', name: 'plain' }, bind: (context) => symmetric().bind(context) });
 * console.log(plain.appliesTo, plain.batchNorm.name, plain.readsOutputError); // [ 'dense', 'conv', 'batchnorm' ] bp false
 * ```
 */
export function defineStrategy(definition: StrategyDefinition): FeedbackStrategy {
  const { name, spec, appliesTo = ALL_LAYER_KINDS, readsOutputError = false } = definition;
  if (!isStrategyName(name)) throw new ConfigError('strategy name', name, `${STRATEGY_NAME_RULE} (it is printed in reports and tables)`);
  const strategy: FeedbackStrategy = {
    name,
    spec,
    appliesTo,
    readsOutputError,
    get batchNorm(): FeedbackStrategy {
      return definition.batchNorm ? definition.batchNorm() : symmetric();
    },
    bind: (context) => definition.bind(context, strategy),
  };
  return strategy;
}

/**
 * Binds a strategy to a layer, refusing a value that is not a strategy and a rule bound to a kind
 * of layer it does not apply to (direct feedback or Kolen-Pollack on a BatchNorm, say). Every
 * feedback layer binds through it.
 *
 * @throws {@link ConfigError} naming the layer, the rule and the kinds it applies to.
 */
export function bindFeedback(strategy: FeedbackStrategy, context: FeedbackContext): Feedback {
  if (typeof strategy?.bind !== 'function' || !Array.isArray(strategy.appliesTo)) {
    throw new ConfigError(`${context.layer} feedback`, describeValue(strategy), 'a FeedbackStrategy (usf(), kolenPollack(), or one made with defineStrategy)');
  }
  if (!strategy.appliesTo.includes(context.kind)) {
    throw new ConfigError(`${context.layer} feedback`, strategy.name, `a rule for ${context.kind} layers (${strategy.name} applies to ${strategy.appliesTo.join(', ')} layers)`);
  }
  return strategy.bind(context);
}

