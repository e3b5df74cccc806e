import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The documentation cannot drift from the code:
// - every TypeScript block that imports the package, in the README, the guides (docs/*.md) and the
//   TSDoc `@example`s of src/, must type-check and is run here, as a user runs it (Node importing
//   the built package, so `npm test` builds dist/ first), and must print what it shows; a guide's
//   block that starts with the line `// Continues the sample above.` runs after the block before
//   it, in one module, so a guide can build an example up step by step;
// - every other TypeScript block of the guides is an excerpt of the sources, shown for reading, and
//   each of its lines must still be in src/ or examples/ (up to spacing);
// - every `asymprop` command in a shell block (and in the scripts under docs/examples/) uses only
//   commands and options that `asymprop --help` lists for it, and every `npm run` names a script.
const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = fileURLToPath(new URL('./.generated/docs/', import.meta.url));
const markdownFiles = ['README.md', 'examples/README.md', 'site/README.md', ...readdirSync(`${root}docs`).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const IMPORTS_PACKAGE = /^import .* from 'asymprop(\/node|\/report)?';$/m;

function fenced(markdown: string, lang: string): string[] {
  return [...markdown.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(`${root}${dir}`, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : [],
  );
}

/** The ```ts blocks inside the TSDoc comments of a source file, without the comments' ` * ` margins. */
function tsdocBlocks(source: string): string[] {
  return [...source.matchAll(/\/\*\*[\s\S]*?\*\//g)].flatMap((m) => fenced(m[0].replace(/^[ \t]*\* ?/gm, ''), 'ts'));
}

const CONTINUES = '// Continues the sample above.\n';

/** A guide's runnable blocks, each continuation joined to the blocks it continues. */
function guideSamples(markdown: string): string[] {
  const out: string[] = [];
  for (const code of fenced(markdown, 'ts')) {
    if (code.startsWith(CONTINUES) && out.length > 0) out.push(`${out[out.length - 1]!}\n${code}`);
    else if (IMPORTS_PACKAGE.test(code)) out.push(code);
  }
  return out;
}

const samples = [
  ...markdownFiles.flatMap((file) => guideSamples(readFileSync(`${root}${file}`, 'utf8')).map((code, i) => ({ file, i, code }))),
  ...sourceFiles('src').flatMap((file) => tsdocBlocks(readFileSync(`${root}${file}`, 'utf8')).filter((code) => IMPORTS_PACKAGE.test(code)).map((code, i) => ({ file, i, code }))),
];

describe('documentation code samples run', () => {
  mkdirSync(outDir, { recursive: true });
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it('finds the samples', () => {
    expect(samples.map((b) => b.file)).toEqual(
      expect.arrayContaining(['README.md', 'docs/dense-backward.md', 'docs/custom-strategy.md', 'src/layers/dense.ts', 'src/check/gradCheck.ts', 'src/train/train.ts']),
    );
  });

  const paths = samples.map(({ file, i }) => `${outDir}${file.replace(/[/.]/g, '_')}_${i}.ts`);

  it('type-check against the sources', () => {
    samples.forEach(({ code }, k) => writeFileSync(paths[k]!, `${code}\nexport {};\n`));
    const config = ts.getParsedCommandLineOfConfigFile(`${root}tsconfig.json`, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
    const options: ts.CompilerOptions = {
      ...config.options,
      noEmit: true,
      noUnusedLocals: false, // a sample may name a value only to show it
      paths: { ...config.options.paths, 'asymprop/report': ['./src/report.ts'] },
    };
    const program = ts.createProgram(paths, options);
    const mine = new Set(paths);
    const errors = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file && mine.has(d.file.fileName))
      .map((d) => `${samples[paths.indexOf(d.file!.fileName)]!.file}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    expect(errors).toEqual([]);
  }, 120_000);

  // Samples that read Debian's dataset-fashion-mnist run where it is installed (as in test/data.test.ts),
  // and always in CI, which installs it: there a missing dataset fails them instead of skipping.
  const fashionMissing = !existsSync('/usr/share/datasets/fashion-mnist') && !process.env.CI;
  const runnable = samples.map(({ code }) => !(fashionMissing && code.includes('loadFashionMnist()')));

  // The samples run one after the other in one Node process (loading the library once): each is an
  // .mjs module inside the package, so Node resolves 'asymprop' to the package itself (dist/).
  type Outcome = { ok: boolean; out: string; error?: string };
  const outcomes = new Map<number, Outcome>();
  beforeAll(() => {
    mkdirSync(outDir, { recursive: true });
    const modules = samples.flatMap(({ code }, k) => {
      if (!runnable[k]) return [];
      const js = ts.transpileModule(`${code}\nexport {};\n`, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
      const path = paths[k]!.replace(/\.ts$/, '.mjs');
      writeFileSync(path, js);
      return [{ k, path }];
    });
    const runner = `${outDir}run-samples.mjs`;
    writeFileSync(
      runner,
      `import { writeFileSync } from 'node:fs';
import { format } from 'node:util';
const [list, report] = process.argv.slice(2);
const results = {};
for (const { k, path } of JSON.parse(list)) {
  const out = [];
  const log = console.log;
  console.log = (...args) => void out.push(format(...args));
  try {
    await import(path);
    results[k] = { ok: true, out: out.join('\\n') };
  } catch (e) {
    results[k] = { ok: false, out: out.join('\\n'), error: String(e?.stack ?? e) };
  } finally {
    console.log = log;
  }
}
writeFileSync(report, JSON.stringify(results));
process.exit(0); // a sample's worker threads must not keep the process alive
`,
    );
    const report = `${outDir}samples.json`;
    const r = spawnSync(process.execPath, [runner, JSON.stringify(modules), report], { cwd: root, encoding: 'utf8', timeout: 600_000 });
    if (!existsSync(report)) throw new Error(`the samples did not finish (exit ${r.status}): ${r.stderr}`);
    for (const [k, outcome] of Object.entries(JSON.parse(readFileSync(report, 'utf8')) as Record<string, Outcome>)) outcomes.set(Number(k), outcome);
  }, 600_000);

  samples.forEach(({ file, i }, k) => {
    it.skipIf(!runnable[k])(`${file} sample ${i + 1}`, () => {
      const outcome = outcomes.get(k);
      expect(outcome?.ok, outcome?.error).toBe(true);
      // Every sample of the README and the guides prints what it shows (an API example may only set something up).
      if (!file.startsWith('src/')) expect(outcome!.out.trim(), 'the sample prints nothing').not.toBe('');
    });
  });
});

describe('source excerpts in the guides match the sources', () => {
  const squash = (line: string) => line.trim().replace(/\s+/g, ' ');
  const sourceLines = new Set(
    [...sourceFiles('src'), ...sourceFiles('examples')].flatMap((f) => readFileSync(`${root}${f}`, 'utf8').split('\n').map(squash)),
  );
  const excerpts = markdownFiles
    .filter((f) => f.startsWith('docs/'))
    .flatMap((file) => fenced(readFileSync(`${root}${file}`, 'utf8'), 'ts').filter((code) => !IMPORTS_PACKAGE.test(code) && !code.startsWith(CONTINUES)).map((code, i) => ({ file, i, code })));

  it('finds the excerpts', () => {
    expect(excerpts.map((e) => e.file)).toContain('docs/dense-backward.md');
  });

  for (const { file, i, code } of excerpts) {
    it(`${file} excerpt ${i + 1}`, () => {
      const missing = code.split('\n').map(squash).filter((line) => line !== '' && !sourceLines.has(line));
      expect(missing, `lines of ${file} excerpt ${i + 1} that are not in src/ or examples/`).toEqual([]);
    });
  }
});

describe('relative links in the documentation lead somewhere', () => {
  // GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens.
  const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
  const anchors = (file: string) => new Set([...readFileSync(file, 'utf8').matchAll(/^#+ (.*)$/gm)].map((m) => slug(m[1]!)));
  const documents = [
    ...markdownFiles.map((file) => ({ file, text: readFileSync(`${root}${file}`, 'utf8').replace(/```[\s\S]*?```/g, '') })),
    ...sourceFiles('src').map((file) => ({ file, text: [...readFileSync(`${root}${file}`, 'utf8').matchAll(/\/\*\*[\s\S]*?\*\//g)].map((m) => m[0]).join('\n') })),
  ];

  it('every relative link names an existing file or folder, and every #anchor a heading of it', () => {
    const broken: string[] = [];
    let count = 0;
    for (const { file, text } of documents) {
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        count++;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const resolved = path === '' ? `${root}${file}` : fileURLToPath(new URL(path, `file://${root}${file}`));
        // A link out of the repository (the protocol beside the project) cannot be checked from a clone.
        if (!resolved.startsWith(root)) continue;
        if (!existsSync(resolved)) broken.push(`${file}: ${target} (no such file or folder)`);
        else if (anchor !== undefined && resolved.endsWith('.md') && !anchors(resolved).has(anchor)) broken.push(`${file}: ${target} (no such heading)`);
      }
    }
    expect(count).toBeGreaterThan(20);
    expect(broken).toEqual([]);
  });
});

describe('shell samples use commands and options that exist', () => {
  // `npm test` builds dist/ first; the command line is checked as built, like test/cli.test.ts does.
  const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
  const scripts = Object.keys((JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts);
  const shellFiles = [
    ...markdownFiles.map((file) => ({ file, text: fenced(readFileSync(`${root}${file}`, 'utf8'), 'sh').join('\n') })),
    ...readdirSync(`${root}docs/examples`).filter((f) => f.endsWith('.sh')).map((f) => ({ file: `docs/examples/${f}`, text: readFileSync(`${root}docs/examples/${f}`, 'utf8') })),
  ];
  // Commands, with backslash continuations joined and comments dropped; a command may follow
  // another (`cd dir && npx asymprop …`, `parallel "npx asymprop …"`).
  const commands = shellFiles.flatMap(({ file, text }) =>
    text
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
      .flatMap((line) => {
        const at = line.search(/(?:^|[\s"'(])(?:(?:npx )?asymprop(?:\s|$)|npm run )/);
        return at < 0 ? [] : [{ file, line: line.slice(at).replace(/^[\s"'(]/, '') }];
      }),
  );

  it('finds the commands', () => {
    expect(commands.map((c) => c.file)).toEqual(expect.arrayContaining(['README.md', 'docs/reproducing.md', 'docs/cluster.md', 'docs/examples/slurm-array.sh']));
  });

  it('every asymprop command and option is in asymprop --help; every npm run names a script', () => {
    expect(existsSync(cli), 'dist/cli/main.js is missing: run npm run build').toBe(true);
    const help = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' }).stdout;
    // The help has one section per command, each starting with "  asymprop <command>"; the
    // options of no command ("asymprop --version | --help") form the section "".
    const sections = new Map<string, Set<string>>();
    let current = '';
    for (const line of help.split('\n')) {
      const m = /^ {2}asymprop (--)?([a-z]+)/.exec(line);
      if (m) current = m[1] ? '' : m[2]!;
      if (!sections.has(current)) sections.set(current, new Set());
      for (const flag of line.matchAll(/--[a-z][a-z-]*/g)) sections.get(current)!.add(flag[0]);
    }
    const problems: string[] = [];
    for (const { file, line } of commands) {
      for (const part of line.split(/&&|\|/).map((p) => p.trim())) {
        const npm = /^npm run (?:-\S+ )*([\w:-]+)/.exec(part);
        if (npm && !scripts.includes(npm[1]!)) problems.push(`${file}: npm script "${npm[1]}" does not exist (${part})`);
        const m = /^(?:npx )?asymprop(?: (\S+))?(.*)$/.exec(part);
        if (!m) continue;
        const command = m[1] ?? '';
        if (command.startsWith('--')) {
          if (!sections.get('')!.has(command)) problems.push(`${file}: ${command} is not in asymprop --help`);
          continue;
        }
        const flags = sections.get(command);
        if (!flags) {
          problems.push(`${file}: asymprop has no command "${command}" (${part})`);
          continue;
        }
        for (const flag of m[2]!.matchAll(/(?:^|\s)(--[a-z][a-z-]*)/g)) {
          if (!flags.has(flag[1]!)) problems.push(`${file}: asymprop ${command} has no option ${flag[1]} (${part})`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('docs/protocol.md', () => {
  // The reference protocol lives beside the project (../shared/protocol.md); the repository ships a
  // copy so that a clone has it. Where the original is present, the copy must not have drifted.
  const original = fileURLToPath(new URL('../../shared/protocol.md', import.meta.url));
  it('names the four findings, the five methods and the grid, and is a verbatim copy of the original where that is present', () => {
    const text = readFileSync(`${root}docs/protocol.md`, 'utf8');
    for (const word of ['## Findings to reproduce', '| bp |', '| usf |', '| brsf |', '| frsf |', '| fa |', '## The grid']) expect(text).toContain(word);
    if (existsSync(original)) expect(text).toBe(readFileSync(original, 'utf8'));
  });
});

