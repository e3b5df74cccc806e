import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.js';

/**
 * Loads the modules named by `--import FILE` (a user's learning rules, which register themselves
 * with `registerMethod` when imported) and returns their URLs, for the worker threads of a grid
 * to load too.
 *
 * @throws {@link ConfigError} (option `import`) for a file that does not exist or fails to load.
 */
export async function importModules(files: readonly string[]): Promise<string[]> {
  const urls: string[] = [];
  for (const file of files) {
    const path = resolve(file);
    if (!existsSync(path) || !statSync(path).isFile()) throw new ConfigError('import', file, 'an existing JavaScript module file (.js or .mjs) that registers methods');
    const url = pathToFileURL(path).href;
    try {
      await import(url);
    } catch (e) {
      throw new ConfigError('import', file, `a module that loads (importing it threw: ${(e as Error).message})`);
    }
    urls.push(url);
  }
  return urls;
}
