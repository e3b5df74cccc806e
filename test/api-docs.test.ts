import { fileURLToPath } from 'node:url';
import { Application, LogLevel, Logger, TSConfigReader, TypeDocReader } from 'typedoc';
import { describe, expect, it } from 'vitest';

// The API reference is checked on every test run: TypeDoc reads typedoc.json (the same settings as
// `npm run docs`), converts the three entry points and validates the result, without writing
// anything. An export without a TSDoc comment, a {@link} that does not resolve, or a public
// signature that mentions a type nobody can import fails this test, with TypeDoc's message.

/** Keeps TypeDoc's warnings and errors for the test's message instead of printing them. */
class CollectingLogger extends Logger {
  readonly messages: string[] = [];

  override log(message: string, level: LogLevel): void {
    super.log(message, level);
    if (level >= LogLevel.Warn) this.messages.push(message);
  }
}

describe('API documentation', () => {
  it('documents every export, and every link and referenced type resolves (TypeDoc validation)', async () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const cwd = process.cwd();
    process.chdir(root); // typedoc.json's paths are relative to the project
    try {
      const app = await Application.bootstrapWithPlugins({ options: `${root}typedoc.json` }, [new TypeDocReader(), new TSConfigReader()]);
      const logger = new CollectingLogger();
      app.logger = logger;
      const project = await app.convert();
      expect(project, logger.messages.join('\n')).toBeDefined();
      app.validate(project!);
      expect(logger.messages).toEqual([]);
      expect(logger.hasErrors() || logger.hasWarnings()).toBe(false);
    } finally {
      process.chdir(cwd);
    }
  }, 120_000);
});
