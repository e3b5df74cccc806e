import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { feedbackFromSpec, Rng, Dense } from '../src/index.js';
import { checkCustomStrategy, shuffledMagnitudes } from '../examples/custom-strategy.js';
import { quickstart } from '../examples/quickstart.js';

describe('examples run as documented', () => {
  it('quickstart (the README API tour) trains and reaches a useful accuracy (> 80%) in 2 epochs', () => {
    const accuracy = quickstart(2);
    expect(accuracy).toBeGreaterThan(0.8);
  });

  it('custom-strategy: the custom feedback keeps true parameter gradients, changes the input gradient, is sign-concordant', () => {
    const r = checkCustomStrategy();
    expect(r).toEqual({ symmetricOk: true, customInputOk: false, customParamsOk: true, concordance: 1 });
  });

  it('custom-strategy: the custom spec is rebuilt through a registered factory and its state restores', () => {
    const s = shuffledMagnitudes();
    expect(feedbackFromSpec(s.spec, { 'shuffled-sf': () => shuffledMagnitudes() }).name).toBe('shuffled-sf');
    expect(() => feedbackFromSpec(s.spec)).toThrow(/custom feedback strategy: "shuffled-sf"/);
    const a = new Dense(5, 4, { rng: new Rng(1), feedback: s });
    const b = new Dense(5, 4, { rng: new Rng(2), feedback: s });
    b.weight.value.data.set(a.weight.value.data);
    b.feedback.loadState(JSON.parse(JSON.stringify(a.feedback.state())));
    expect(b.feedback.matrix(b.weight.value)!.data).toEqual(a.feedback.matrix(a.weight.value)!.data);
  });

  it('the README\'s command runs an example in a shell with no terminal: npm run example (tsx from the devDependencies, nothing fetched)', () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string>; devDependencies: Record<string, string> };
    expect(pkg.scripts['example']).toBe('npm run build --silent && tsx');
    expect(pkg.devDependencies['tsx']).toBeDefined();
    expect(readFileSync(`${root}README.md`, 'utf8')).toContain('npm run example examples/quickstart.ts');
    // The script's tsx, on the build npm test made (its own build step would remove dist/ under the other tests).
    const r = spawnSync(`${root}node_modules/.bin/tsx`, ['examples/custom-strategy.ts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/customParamsOk: true/);
  });
});
