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
