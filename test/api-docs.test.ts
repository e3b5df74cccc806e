import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application, LogLevel, Logger, TSConfigReader, TypeDocReader, type ProjectReflection } from 'typedoc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The API reference is checked on every test run: TypeDoc reads typedoc.json (the same settings as
// `npm run docs`), converts the three entry points and validates the result. An export without a
// TSDoc comment, a {@link} that does not resolve, or a public signature that mentions a type nobody
// can import fails the first test, with TypeDoc's message. The second writes the reference into a
// temporary directory and follows every link of every page, as a reader of the reference would.

/** Keeps TypeDoc's warnings and errors for the test's message instead of printing them. */
class CollectingLogger extends Logger {
  readonly messages: string[] = [];

  override log(message: string, level: LogLevel): void {
    super.log(message, level);
    if (level >= LogLevel.Warn) this.messages.push(message);
  }
}

const root = fileURLToPath(new URL('..', import.meta.url));

/** Every file under `dir` whose name ends with one of `endings`, skipping node_modules, dist and generated output. */
function filesUnder(dir: string, endings: readonly string[]): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return ['node_modules', 'dist', 'api', '.generated', '.git'].includes(e.name) ? [] : filesUnder(path, endings);
    return endings.some((ending) => e.name.endsWith(ending)) ? [path] : [];
  });
}

describe('API documentation', () => {
  let app: Application;
  let project: ProjectReflection | undefined;
  const logger = new CollectingLogger();
  let out = '';

  beforeAll(async () => {
    const cwd = process.cwd();
    process.chdir(root); // typedoc.json's paths are relative to the project
    try {
      app = await Application.bootstrapWithPlugins({ options: `${root}typedoc.json` }, [new TypeDocReader(), new TSConfigReader()]);
      app.logger = logger;
      project = await app.convert();
    } finally {
      process.chdir(cwd);
    }
    out = mkdtempSync(join(tmpdir(), 'asymprop-api-'));
  }, 120_000);
  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('documents every export, and every link and referenced type resolves (TypeDoc validation)', () => {
    expect(project, logger.messages.join('\n')).toBeDefined();
    app.validate(project!);
    expect(logger.messages).toEqual([]);
    expect(logger.hasErrors() || logger.hasWarnings()).toBe(false);
  });

  it('every link of the generated reference leads to a page it generated or a file it copied, never to raw Markdown or a made-up address', async () => {
    const cwd = process.cwd();
    process.chdir(root);
    try {
      await app.generateDocs(project!, out);
    } finally {
      process.chdir(cwd);
    }
    // Addresses that the sources write (TypeDoc's own, in its footer, aside).
    const sources = filesUnder(root, ['.md', '.ts']).map((f) => readFileSync(f, 'utf8')).join('\n');
    const pages = filesUnder(out, ['.html']);
    const broken: string[] = [];
    let followed = 0;
    for (const page of pages) {
      const html = readFileSync(page, 'utf8');
      for (const m of html.matchAll(/\s(?:href|src)="([^"]*)"/g)) {
        const target = m[1]!.replace(/&amp;/g, '&');
        const where = `${relative(out, page)}: ${target}`;
        if (/^https?:/.test(target)) {
          if (!target.startsWith('https://typedoc.org/') && !sources.includes(target)) broken.push(`${where} (an address no source writes)`);
          continue;
        }
        const path = decodeURIComponent(target.split('#')[0]!.split('?')[0]!);
        if (path === '' || /^(mailto|data|javascript):/.test(path)) continue;
        followed++;
        const file = join(dirname(page), path);
        if (!existsSync(file)) broken.push(`${where} (no such file)`);
        else if (statSync(file).isDirectory()) broken.push(`${where} (a directory)`);
        else if (file.endsWith('.md')) broken.push(`${where} (raw Markdown)`);
      }
    }
    expect(followed).toBeGreaterThan(1000);
    expect(broken).toEqual([]);
    // The README's links to the guides, the reports, the examples and the page lead to pages.
    const index = readFileSync(join(out, 'index.html'), 'utf8');
    for (const document of ['docs_reproducing', 'docs_results_quick_report', 'docs_results_protocol_README', 'examples_README', 'site_README']) {
      expect(index, document).toContain(`href="documents/${document}.html"`);
    }
  }, 120_000);
});
