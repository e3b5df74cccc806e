/**
 * Progress on the terminal: a live line redrawn in place when stderr is a terminal, plain lines
 * (one per event worth keeping) otherwise, so logs and CI output stay readable.
 */
export class Progress {
  private readonly live: boolean;
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {
    this.live = !quiet && stream.isTTY === true;
  }

  /** Redraws the live line (at most every 100 ms); ignored when not on a terminal. */
  update(text: string): void {
    if (!this.live) return;
    const t = Date.now();
    if (t - this.lastDraw < 100) return;
    this.lastDraw = t;
    const width = (this.stream.columns ?? 100) - 1;
    this.stream.write(`\r\x1b[K${text.slice(0, width)}`);
    this.drawn = true;
  }

  /** Prints a line that stays. */
  log(text: string): void {
    if (this.quiet) return;
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
    this.stream.write(`${text}\n`);
  }

  /** Clears the live line. */
  done(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}

/** `[#####.....] 50%` */
export function bar(fraction: number, width = 20): string {
  const f = Math.max(0, Math.min(1, fraction));
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}] ${Math.floor(f * 100).toString().padStart(3)}%`;
}
