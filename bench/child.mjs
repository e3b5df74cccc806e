/**
 * What every measuring child process of the benchmark shares: the median, and the way it reports
 * (one line `BENCH_RESULT {json}` on stdout, with `ok`, the first line of any error and the
 * process's peak RSS), so that bench/run.mjs can read every child alike.
 */
import { pathToFileURL } from 'node:url';

/** The median of a list of numbers (null for an empty list). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Runs `measure` (which fills `result`), then prints `result` as the child's BENCH_RESULT line. */
export async function reportResult(result, measure) {
  try {
    await measure();
    result.ok = true;
  } catch (e) {
    result.ok = false;
    result.error = String(e?.message ?? e).split('\n')[0];
  }
  result.peakRssMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`\nBENCH_RESULT ${JSON.stringify(result)}\n`);
}

/** Runs `main` and exits when the module `url` is the script Node was started with. */
export async function runAsScript(url, main) {
  if (process.argv[1] && url === pathToFileURL(process.argv[1]).href) {
    await main();
    process.exit(0);
  }
}
