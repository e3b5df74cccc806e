import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// Every TypeScript code block in the README and the guides that imports from the package is
// run here, so the documentation cannot drift from the code. (Blocks without an import are
// excerpts of the sources, shown for reading.)
const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = fileURLToPath(new URL('./.generated/', import.meta.url));
const files = ['README.md', ...readdirSync(`${root}docs`).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

function blocks(markdown: string): string[] {
  return [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((code) => /^import .* from 'asymprop(\/node)?';$/m.test(code));
}

describe('documentation code samples run', () => {
  mkdirSync(outDir, { recursive: true });
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));
  const all = files.flatMap((file) => blocks(readFileSync(`${root}${file}`, 'utf8')).map((code, i) => ({ file, i, code })));

  it('finds the samples', () => {
    expect(all.map((b) => b.file)).toEqual(expect.arrayContaining(['README.md', 'docs/dense-backward.md']));
  });

  for (const { file, i, code } of all) {
    it(`${file} sample ${i + 1}`, async () => {
      const path = `${outDir}${file.replace(/[/.]/g, '_')}_${i}.ts`;
      writeFileSync(path, `${code}\nexport {};\n`);
      const logs: unknown[][] = [];
      const original = console.log;
      console.log = (...args: unknown[]) => void logs.push(args);
      try {
        await import(/* @vite-ignore */ path);
      } finally {
        console.log = original;
      }
      expect(logs.length).toBeGreaterThan(0); // every sample prints what it shows
    });
  }
});
