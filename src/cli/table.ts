/** Renders rows of cells as an aligned plain-text table with a header rule. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => (r[j] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** `95.25%`, or `diverged (epoch 3)`. */
export function formatAccuracy(accuracy: number, diverged: { epoch: number } | null): string {
  if (diverged) return `diverged (epoch ${diverged.epoch})`;
  return Number.isFinite(accuracy) ? `${(accuracy * 100).toFixed(2)}%` : 'n/a';
}

/**
 * A loss for people: four decimals while it is small, two up to 100,000, then three significant
 * digits in scientific notation (`9.076e+13`, not `90761339055319.1563`); `NaN` and `∞` as such.
 * `--json` keeps the full number.
 */
export function formatLoss(loss: number): string {
  if (Number.isNaN(loss)) return 'NaN';
  if (!Number.isFinite(loss)) return loss > 0 ? '∞' : '−∞';
  const size = Math.abs(loss);
  return size < 1000 ? loss.toFixed(4) : size < 1e5 ? loss.toFixed(2) : loss.toExponential(3);
}
