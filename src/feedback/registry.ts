import { ConfigError } from '../errors.js';
import { batchManhattan } from './batchManhattan.js';
import { directFeedback } from './direct.js';
import { KOLEN_POLLACK_DEFAULTS, kolenPollack } from './kolenPollack.js';
import { parseMagnitudeLaw, type MagnitudeLaw } from './magnitude.js';
import { randomFeedback } from './random.js';
import { signConcordant } from './signConcordant.js';
import type { FeedbackStrategy } from './strategy.js';
import { symmetric } from './symmetric.js';
import { WEIGHT_MIRROR_DEFAULTS, weightMirror } from './weightMirror.js';

/** A numeric hyper-parameter of a method: a command-line flag, a grid field, an option of its builder. */
export interface MethodOption {
  /** The key in {@link MethodSettings.options} and in a run's `feedbackOptions` (`decay`, `mirrorRate`). */
  readonly name: string;
  /** The command-line flag, without dashes (`decay`, `mirror-rate`). */
  readonly flag: string;
  /** One line for help texts. */
  readonly description: string;
  /** The value used when none is given. */
  readonly default: number;
  /** Smallest allowed value (inclusive unless {@link MethodOption.positive}). */
  readonly min: number;
  /** True when the value must be > `min` rather than ≥. */
  readonly positive?: boolean;
  /** True when the value must be an integer. */
  readonly integer?: boolean;
}

/** What a method is built from: the flip fraction, the magnitude law, and its own options (defaults filled in). */
export interface MethodSettings {
  /** Fraction of feedback signs flipped (0 unless the method {@link Method.flip | takes one}). */
  readonly flip: number;
  /** The magnitude law (null: the method's default, or a method without magnitudes). */
  readonly magnitude: MagnitudeLaw | null;
  /** The method's {@link Method.options}, by name, every one present. */
  readonly options: Readonly<Record<string, number>>;
}

/**
 * A learning rule under its command-line name: what the CLI, the grids, the report, the demo, the
 * bench and the page list, and how each builds it. Every list of methods in the library is read
 * from the registry ({@link methods}); {@link registerMethod} adds a user's own.
 */
export interface Method {
  /** The command-line name (`bp`, `kp`, …). */
  readonly name: string;
  /** Other names accepted for it (`symmetric` for `bp`). */
  readonly aliases: readonly string[];
  /** The name tables and the page show (`uSF`, `KP`). */
  readonly label: string;
  /** What goes down, in the guides' notation (`dX = dY sign(W)`). */
  readonly formula: string;
  /** One line for help texts and the page. */
  readonly description: string;
  /** Whether it takes a flip fraction (`--flip`). */
  readonly flip: boolean;
  /** Whether it takes a magnitude law (`--magnitude`). */
  readonly magnitude: boolean;
  /** Whether its feedback has W's signs (the report's sign-concordant findings). */
  readonly signConcordant: boolean;
  /** Its numeric hyper-parameters. */
  readonly options: readonly MethodOption[];
  /** The studies it belongs to: `protocol` (the 2016 paper's grid), `transport` (the weight-transport comparison), or a user's own tag. */
  readonly studies: readonly string[];
  /**
   * Its colour in figures and on the page, `#rrggbb` (see {@link methodColor}); a method without
   * one gets one of {@link EXTRA_METHOD_COLORS}.
   */
  readonly color?: string;
  /** Builds the strategy (without Batch Manhattan, which {@link feedbackByName} adds). */
  build(settings: MethodSettings): FeedbackStrategy;
}

const BUILT_IN: readonly Method[] = [
  {
    name: 'bp', aliases: ['symmetric'], label: 'bp', formula: 'dX = dY W',
    description: 'backprop: the error goes down through W itself (the control)',
    flip: true, magnitude: false, signConcordant: true, options: [], studies: ['protocol', 'transport', 'demo-bn'], color: '#000000',
    build: ({ flip }) => symmetric({ flip }),
  },
  {
    name: 'usf', aliases: [], label: 'uSF', formula: 'dX = dY sign(W)',
    description: "uniform sign-concordant feedback: W's signs, every magnitude 1",
    flip: true, magnitude: false, signConcordant: true, options: [], studies: ['protocol', 'transport', 'demo-bn'], color: '#E69F00',
    build: ({ flip }) => signConcordant({ flip }),
  },
  {
    name: 'brsf', aliases: [], label: 'brSF', formula: 'dX = dY (M ∘ sign(W)), M redrawn every step',
    description: "batchwise-random sign-concordant feedback: W's signs, random magnitudes drawn anew after every step",
    flip: true, magnitude: true, signConcordant: true, options: [], studies: ['protocol', 'transport'], color: '#56B4E9',
    build: ({ flip, magnitude }) => signConcordant({ magnitude: magnitude ?? 'uniform', redraw: 'batch', flip }),
  },
  {
    name: 'frsf', aliases: [], label: 'frSF', formula: 'dX = dY (M ∘ sign(W)), M fixed',
    description: "fixed-random sign-concordant feedback: W's signs, random magnitudes drawn once",
    flip: true, magnitude: true, signConcordant: true, options: [], studies: ['protocol', 'transport'], color: '#009E73',
    build: ({ flip, magnitude }) => signConcordant({ magnitude: magnitude ?? 'uniform', redraw: 'fixed', flip }),
  },
  {
    name: 'fa', aliases: ['random'], label: 'FA', formula: 'dX = dY B, B random and fixed',
    description: 'feedback alignment: a fixed random matrix B of W\'s shape, unrelated to W',
    flip: true, magnitude: false, signConcordant: false, options: [], studies: ['protocol', 'transport'], color: '#D55E00',
    build: ({ flip }) => randomFeedback({ flip }),
  },
  {
    name: 'dfa', aliases: ['direct'], label: 'DFA', formula: 'dX = e B, e the output error, B random and fixed',
    description: "direct feedback alignment: every layer sends the network's output error down through a fixed random B of its own",
    flip: false, magnitude: false, signConcordant: false, options: [], studies: ['transport'], color: '#0072B2',
    build: () => directFeedback(),
  },
  {
    name: 'kp', aliases: ['kolen-pollack'], label: 'KP', formula: 'dX = dY B, B given W\'s update, both decayed',
    description: "Kolen-Pollack: a learned B that receives W's own update, both decayed, so B converges to W",
    flip: false, magnitude: false, signConcordant: false,
    options: [{ name: 'decay', flag: 'decay', description: "decay λ added to W's and B's gradients", default: KOLEN_POLLACK_DEFAULTS.decay, min: 0 }],
    studies: ['transport'], color: '#CC79A7',
    build: ({ options }) => kolenPollack({ decay: options['decay']! }),
  },
  {
    name: 'wm', aliases: ['weight-mirror'], label: 'WM', formula: 'dX = dY B, B learned from noise sent through W',
    description: 'weight mirrors: a learned B, trained in a mirror phase from noise sent forward through W',
    flip: false, magnitude: false, signConcordant: false,
    options: [
      { name: 'mirrorRate', flag: 'mirror-rate', description: "mirror rate η, the scale of the mirror signal in B's gradient", default: WEIGHT_MIRROR_DEFAULTS.mirrorRate, min: 0 },
      { name: 'decay', flag: 'decay', description: "decay λ added to B's gradient", default: WEIGHT_MIRROR_DEFAULTS.decay, min: 0 },
      { name: 'noise', flag: 'mirror-noise', description: 'standard deviation σ of the mirror noise', default: WEIGHT_MIRROR_DEFAULTS.noise, min: 0, positive: true },
      { name: 'mirrorBatches', flag: 'mirror-batches', description: 'mirror batches per training step', default: WEIGHT_MIRROR_DEFAULTS.mirrorBatches, min: 1, integer: true },
    ],
    studies: ['transport'], color: '#882255',
    build: ({ options }) => weightMirror({ mirrorRate: options['mirrorRate']!, decay: options['decay']!, noise: options['noise']!, mirrorBatches: options['mirrorBatches']! }),
  },
];

const registry: Method[] = [...BUILT_IN];

/**
 * Colours for the methods a user registers without one, in the order they were registered: five
 * of Paul Tol's colours that differ from the built-in methods' (which are not checked against each
 * other for colour blindness, as the built-in ones are).
 */
export const EXTRA_METHOD_COLORS: readonly string[] = ['#332288', '#999933', '#44AA99', '#661100', '#888888'];

/**
 * The colour of a method (by name or alias) in the report's figures and on the interactive page,
 * so that a method looks the same everywhere. The built-in methods use the Okabe–Ito palette (bp
 * black, uSF orange, brSF sky blue, frSF bluish green, FA vermillion, DFA blue, KP reddish purple)
 * and Paul Tol's wine for WM: every two of them stay apart for readers with normal colour vision
 * and with each kind of colour blindness (protanopia, deuteranopia, tritanopia).
 *
 * @throws {@link ConfigError} for a name that is not registered.
 *
 * @example
 * ```ts
 * import { methodColor } from 'asymprop';
 *
 * console.log(methodColor('bp'), methodColor('frsf')); // #000000 #009E73
 * ```
 */
export function methodColor(name: string): string {
  const method = methodByName(name);
  if (method.color !== undefined) return method.color;
  const uncoloured = registry.filter((m) => m.color === undefined);
  return EXTRA_METHOD_COLORS[uncoloured.indexOf(method) % EXTRA_METHOD_COLORS.length]!;
}

/**
 * The registered methods in registry order (the built-in ones first: bp, usf, brsf, frsf, fa,
 * dfa, kp, wm), or those of one study (`protocol`, `transport`).
 *
 * @example
 * ```ts
 * import { methods } from 'asymprop';
 *
 * console.log(methods('protocol').map((m) => m.name)); // [ 'bp', 'usf', 'brsf', 'frsf', 'fa' ]
 * console.log(methods('transport').length);            // 8
 * ```
 */
export function methods(study?: string): Method[] {
  return study === undefined ? [...registry] : registry.filter((m) => m.studies.includes(study));
}

/** Every name the registry accepts, aliases included, quoted for messages: `'bp', 'symmetric', 'usf', …`. */
export function methodNames(): string {
  return registry.flatMap((m) => [m.name, ...m.aliases]).map((n) => `'${n}'`).join(', ');
}

/**
 * The method registered under `name` or one of its aliases.
 *
 * @throws {@link ConfigError} (option `feedback`) naming every registered name.
 */
export function methodByName(name: string): Method {
  const found = registry.find((m) => m.name === name || m.aliases.includes(name));
  if (!found) throw new ConfigError('feedback', name, methodNames());
  return found;
}

/**
 * Adds a method to the registry, so that `feedbackByName`, the command line (`--feedback NAME`,
 * its options as flags), the grids and checkpoints know it. The strategy it builds should have a
 * `{ type: 'custom', name, options }` spec with the method's name, so that {@link feedbackFromSpec}
 * rebuilds it from a checkpoint through the registry. A module that calls `registerMethod` when
 * imported can be loaded into the command line with `--import FILE`.
 *
 * @throws {@link ConfigError} when the name or an alias is taken, or an option is malformed.
 */
export function registerMethod(method: Method): Method {
  // A module loaded with --import is not type-checked: every field is checked here.
  if (typeof method !== 'object' || method === null) throw new ConfigError('method', method, 'an object { name, aliases, label, formula, description, flip, magnitude, signConcordant, options, studies, build }');
  for (const key of ['aliases', 'options', 'studies'] as const) {
    if (!Array.isArray(method[key])) throw new ConfigError(`method ${String(method.name)} ${key}`, method[key], 'an array');
  }
  for (const key of ['label', 'formula', 'description'] as const) {
    if (typeof method[key] !== 'string') throw new ConfigError(`method ${String(method.name)} ${key}`, method[key], 'a string');
  }
  for (const key of ['flip', 'magnitude', 'signConcordant'] as const) {
    if (typeof method[key] !== 'boolean') throw new ConfigError(`method ${String(method.name)} ${key}`, method[key], 'true or false');
  }
  if (!method.studies.every((s) => typeof s === 'string')) throw new ConfigError(`method ${method.name} studies`, method.studies, 'an array of strings');
  if (method.color !== undefined && (typeof method.color !== 'string' || !/^#[0-9a-fA-F]{6}$/.test(method.color))) {
    throw new ConfigError(`method ${String(method.name)} color`, method.color, "a colour '#rrggbb', or none");
  }
  for (const n of [method.name, ...method.aliases]) {
    if (typeof n !== 'string' || !/^[a-z][a-z0-9-]*$/.test(n)) throw new ConfigError('method name', n, 'lower-case letters, digits and dashes, starting with a letter');
    if (registry.some((m) => m.name === n || m.aliases.includes(n))) throw new ConfigError('method name', n, `a name not yet registered (taken: ${methodNames()})`);
  }
  if (typeof method.build !== 'function') throw new ConfigError(`method ${method.name} build`, method.build, 'a function (settings) => FeedbackStrategy');
  for (const o of method.options) {
    if (typeof o?.name !== 'string' || typeof o.description !== 'string' || typeof o.min !== 'number') throw new ConfigError(`method ${method.name} option`, o, 'an object { name, flag, description, default, min }');
    if (typeof o.flag !== 'string' || !/^[a-z][a-z0-9-]*$/.test(o.flag) || RESERVED_FLAGS.includes(o.flag)) throw new ConfigError(`method ${method.name} option flag`, o.flag, `a lower-case flag not used by the command line (${RESERVED_FLAGS.join(', ')})`);
    checkOption(o, o.default);
  }
  registry.push(method);
  return method;
}

/** Flags of `asymprop train` that a method option cannot take. */
const RESERVED_FLAGS = ['arch', 'feedback', 'bm', 'bn', 'flip', 'magnitude', 'lr', 'epochs', 'seed', 'batch-size', 'momentum', 'weight-decay', 'dataset', 'data-dir', 'json', 'quiet', 'checkpoint', 'checkpoint-every', 'resume', 'on-divergence', 'threads', 'import', 'help'];

/** A command-line flag of one or more methods' options. */
export interface OptionFlag {
  /** The flag without dashes (`mirror-rate`). */
  flag: string;
  /** The option's name in the methods' options (`mirrorRate`). */
  name: string;
  /** The methods that take it. */
  methods: string[];
  /** One line for help texts (the first method's). */
  description: string;
}

/** Every option flag of the registered methods, once each (`decay`, `mirror-rate`, …), with the methods that take it. */
export function methodOptionFlags(): OptionFlag[] {
  const flags = new Map<string, OptionFlag>();
  for (const m of registry) {
    for (const o of m.options) {
      const entry = flags.get(o.flag) ?? { flag: o.flag, name: o.name, methods: [], description: o.description };
      entry.methods.push(m.name);
      flags.set(o.flag, entry);
    }
  }
  return [...flags.values()];
}

function checkOption(option: MethodOption, value: unknown): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && (option.positive ? value > option.min : value >= option.min) && (!option.integer || Number.isInteger(value));
  if (!ok) throw new ConfigError(option.flag, value, `${option.integer ? 'an integer' : 'a finite number'} ${option.positive ? '>' : '≥'} ${option.min}`);
  return value as number;
}

/**
 * A method's options with their defaults filled in and every value checked, or null for a method
 * without options. A key the method does not take is refused, naming the methods that take it.
 *
 * @throws {@link ConfigError} naming the option (its flag) and what is allowed.
 */
export function methodOptions(method: Method, given: Readonly<Record<string, unknown>> = {}): Record<string, number> | null {
  for (const key of Object.keys(given)) {
    if (given[key] === undefined) continue;
    if (!method.options.some((o) => o.name === key)) {
      const takers = registry.filter((m) => m.options.some((o) => o.name === key));
      const flag = takers[0]?.options.find((o) => o.name === key)?.flag ?? key;
      throw new ConfigError(flag, given[key], takers.length > 0 ? `only with feedback ${takers.map((m) => `'${m.name}'`).join(' or ')} (feedback is '${method.name}')` : `no such option (feedback '${method.name}' takes ${method.options.map((o) => o.flag).join(', ') || 'none'})`);
    }
  }
  if (method.options.length === 0) return null;
  const out: Record<string, number> = {};
  for (const o of method.options) out[o.name] = checkOption(o, given[o.name] ?? o.default);
  return out;
}

/** Options of {@link feedbackByName}: the command line's `--bm`, `--flip`, `--magnitude` and the method's own flags. */
export interface FeedbackByNameOptions {
  /** Batch Manhattan on top of the method. */
  bm?: boolean;
  /** Fraction of feedback signs flipped (only for methods that take one). */
  flip?: number;
  /** Magnitude law for brsf/frsf (a {@link MagnitudeLaw} or its command-line name). */
  magnitude?: MagnitudeLaw | string;
  /** The method's own options by name (`{ decay: 0.01 }` for kp); defaults fill the rest. */
  options?: Readonly<Record<string, unknown>>;
}

/**
 * Builds a strategy from a registered method's name (`bp`, `usf`, `brsf`, `frsf`, `fa`, `dfa`,
 * `kp`, `wm`, an alias, or a method added with {@link registerMethod}), optionally with Batch
 * Manhattan, a flip fraction, a magnitude law and the method's own options.
 *
 * @throws {@link ConfigError} for an unknown name; a flip, a magnitude law or an option given to
 * a method that does not take it (naming the methods that do); an invalid value.
 *
 * @example
 * ```ts
 * import { feedbackByName } from 'asymprop';
 *
 * console.log(feedbackByName('brsf', { bm: true, magnitude: 'lognormal' }).name); // bm+brsf(lognormal)
 * console.log(feedbackByName('fa', { flip: 0.5 }).name);                         // fa(flip=0.5)
 * console.log(feedbackByName('kp', { options: { decay: 0.01 } }).name);         // kp(decay=0.01)
 * ```
 */
export function feedbackByName(name: string, options: FeedbackByNameOptions = {}): FeedbackStrategy {
  const method = methodByName(name);
  const flip = options.flip ?? 0;
  if (flip !== 0 && !method.flip) {
    throw new ConfigError('flip', flip, `0, or a flip with feedback ${registry.filter((m) => m.flip).map((m) => `'${m.name}'`).join(', ')} (feedback is '${name}')`);
  }
  const magnitude = typeof options.magnitude === 'string' ? parseMagnitudeLaw(options.magnitude) : options.magnitude;
  if (magnitude !== undefined && !method.magnitude) {
    throw new ConfigError('magnitude', options.magnitude, `only with feedback ${registry.filter((m) => m.magnitude).map((m) => `'${m.name}'`).join(' or ')} (feedback is ${JSON.stringify(name)})`);
  }
  const base = method.build({ flip, magnitude: magnitude ?? null, options: methodOptions(method, options.options) ?? {} });
  return options.bm ? batchManhattan(base) : base;
}
