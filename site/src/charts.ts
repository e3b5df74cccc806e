/**
 * Live charts drawn on plain canvases (no chart library): a line chart for the training curves
 * and the per-layer statistics, the decision boundary of the 2-D problem, and a row of test digits
 * with their predicted classes.
 */

/** One line of a {@link LineChart}. */
export interface SeriesStyle {
  readonly name: string;
  readonly color: string;
  /** Draw the points as dots rather than a line (for sparse series such as test accuracy). */
  readonly dots?: boolean;
}

/** The y axis of a {@link LineChart}. */
export interface AxisOptions {
  /** Fixed bounds; a missing bound follows the data. */
  readonly min?: number;
  readonly max?: number;
  /** Without a fixed max, the axis reaches at least this high (grows further when the data do). */
  readonly softMax?: number;
  /** Logarithmic scale (for losses, which span decades). */
  readonly log?: boolean;
  /** Tick label of a value. */
  readonly format: (value: number) => string;
}

/** Colours of the classes (Okabe–Ito, readable with colour blindness). */
export const CLASS_COLORS = ['#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00', '#CC79A7', '#999999', '#882255', '#44AA99'];

/** Colours of the dense layers in the per-layer charts. */
export const LAYER_COLORS = ['#0072B2', '#D55E00', '#CC79A7'];

/** Most points a series keeps: beyond it, neighbouring points are averaged in pairs. */
const MAX_POINTS = 800;

/**
 * Room around the plot: the legend on top, tick labels and the x axis's title below; on the left
 * at least `left`, more when the widest tick label needs it (each chart measures its labels).
 */
const MARGIN = { left: 30, right: 10, top: 18, bottom: 32 };

/** What the x axis of every line chart counts. */
const X_TITLE = 'step';

/** Shown in a chart that has no point yet. */
const NO_DATA = 'no data yet: start training';

/** Superscript digits, for powers of ten. */
const SUPERSCRIPT: Record<string, string> = { '-': '⁻', 0: '⁰', 1: '¹', 2: '²', 3: '³', 4: '⁴', 5: '⁵', 6: '⁶', 7: '⁷', 8: '⁸', 9: '⁹' };

/**
 * A tick label of a log axis: plain from 0.001 to 1,000 (`0.01`, `500`), else a power of ten,
 * `10⁶` or `2×10⁻⁵`, so that a label stays short whatever the loss does.
 */
export function logTickLabel(value: number): string {
  if (value >= 1e-3 && value < 1e4) return String(value);
  const power = Math.floor(Math.log10(value) + 1e-9);
  const mantissa = Math.round(value / 10 ** power);
  return `${mantissa === 1 ? '' : `${mantissa}×`}10${[...String(power)].map((c) => SUPERSCRIPT[c]).join('')}`;
}

/**
 * A line chart of one or more series against the training step. `add` records a point and asks
 * for a redraw on the next animation frame, so a burst of points costs one drawing.
 */
export class LineChart {
  private readonly points: { x: number; y: number }[][];
  private pending = false;

  /**
   * @param canvas where it draws; its `aria-label` says what the chart shows (for screen readers
   * and scripts): the series, the axes and their ranges, or that there is no data yet.
   * @param series the lines, in the order of {@link LineChart.add}'s `index`.
   * @param axis the y axis.
   * @param title what the chart shows, e.g. `Loss (log scale)`.
   */
  constructor(
    readonly canvas: HTMLCanvasElement,
    private series: readonly SeriesStyle[],
    readonly axis: AxisOptions,
    readonly title: string,
  ) {
    this.points = series.map(() => []);
    canvas.setAttribute('role', 'img');
    this.requestDraw();
  }

  /** Restyles the series (same number, same order), e.g. in the colour of another method. */
  setSeries(series: readonly SeriesStyle[]): void {
    this.series = series;
    this.requestDraw();
  }

  /** Adds a point to series `index`. A NaN or infinite y leaves a gap. */
  add(index: number, x: number, y: number): void {
    const points = this.points[index]!;
    points.push({ x, y });
    if (points.length > MAX_POINTS) this.points[index] = halve(points);
    this.requestDraw();
  }

  clear(): void {
    for (let i = 0; i < this.points.length; i++) this.points[i] = [];
    this.requestDraw();
  }

  private requestDraw(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  /** Draws the axes, the grid, every series and the legend; without data, only the frame and a word. */
  draw(): void {
    const ctx = fitCanvas(this.canvas);
    const { width, height } = this.canvas.getBoundingClientRect();
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, width, height);
    ctx.font = '11px system-ui, sans-serif';

    const t = (v: number) => (this.axis.log ? Math.log10(v) : v);
    const all = this.points.flat().filter((p) => Number.isFinite(t(p.y)));
    if (all.length === 0) {
      const plot = { x: MARGIN.left, y: MARGIN.top, w: width - MARGIN.left - MARGIN.right, h: height - MARGIN.top - MARGIN.bottom };
      ctx.strokeStyle = '#ccc';
      ctx.strokeRect(plot.x, plot.y, plot.w, plot.h);
      ctx.fillStyle = '#888';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(NO_DATA, plot.x + plot.w / 2, plot.y + plot.h / 2);
      this.drawLegend(ctx, plot);
      this.canvas.setAttribute('aria-label', `${this.title}: ${NO_DATA}`);
      return;
    }

    // Scales: x from 0 to the last step (only 0 before the first step); y from the fixed bounds or the data.
    const xMax = Math.max(...all.map((p) => p.x));
    const ys = all.map((p) => t(p.y));
    let yMin = this.axis.min !== undefined ? t(this.axis.min) : Math.min(...ys);
    let yMax = this.axis.max !== undefined ? t(this.axis.max) : Math.max(...ys, this.axis.softMax !== undefined ? t(this.axis.softMax) : -Infinity);
    if (yMax - yMin < 1e-9) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
    // A log axis reaches out to the round values (1, 2 or 5 × 10^k) around the data, so it has ticks at both ends.
    if (this.axis.log) [yMin, yMax] = [Math.log10(roundLog(10 ** yMin, 'down')), Math.log10(roundLog(10 ** yMax, 'up'))];
    const yTicks = (this.axis.log ? logTicks(yMin, yMax) : niceTicks(yMin, yMax)).map((v) => ({ v, label: this.axis.format(v) }));
    const xTicks = xMax > 0 ? niceTicks(0, xMax, 1) : [0];
    // The left margin fits the widest tick label.
    const left = Math.max(MARGIN.left, 8 + Math.max(...yTicks.map((tick) => ctx.measureText(tick.label).width)));
    const plot = { x: left, y: MARGIN.top, w: width - left - MARGIN.right, h: height - MARGIN.top - MARGIN.bottom };
    // A few pixels of air inside the frame, so lines at the bounds (0°, 100%) stay visible.
    const pad = 4;
    const px = (x: number) => plot.x + (x / (xMax || 1)) * plot.w;
    const py = (y: number) => plot.y + plot.h - pad - ((t(y) - yMin) / (yMax - yMin)) * (plot.h - 2 * pad);

    // Grid, tick labels and the x axis's title.
    ctx.strokeStyle = '#e4e4e4';
    ctx.fillStyle = '#666';
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const { v, label } of yTicks) {
      const y = py(v);
      line(ctx, plot.x, y, plot.x + plot.w, y);
      ctx.fillText(label, plot.x - 4, y);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const v of xTicks) {
      const x = px(v);
      line(ctx, x, plot.y, x, plot.y + plot.h);
      ctx.fillText(v.toLocaleString('en-US'), x, plot.y + plot.h + 3);
    }
    ctx.textAlign = 'right';
    ctx.fillText(X_TITLE, plot.x + plot.w, plot.y + plot.h + 17);
    ctx.strokeStyle = '#999';
    ctx.strokeRect(plot.x, plot.y, plot.w, plot.h);

    // The series, clipped to the plot.
    ctx.save();
    ctx.beginPath();
    ctx.rect(plot.x, plot.y, plot.w, plot.h);
    ctx.clip();
    this.series.forEach((style, i) => {
      ctx.strokeStyle = ctx.fillStyle = style.color;
      ctx.lineWidth = 1.5;
      const points = this.points[i]!;
      if (style.dots) {
        // Dots with a white ring, visible on a line of the same colour.
        for (const p of points) {
          if (!Number.isFinite(t(p.y))) continue;
          ctx.beginPath();
          ctx.arc(px(p.x), py(p.y), 3, 0, 2 * Math.PI);
          ctx.fillStyle = '#fff';
          ctx.fill();
          ctx.beginPath();
          ctx.arc(px(p.x), py(p.y), 2.2, 0, 2 * Math.PI);
          ctx.fillStyle = style.color;
          ctx.fill();
        }
        return;
      }
      ctx.beginPath();
      let pen = false;
      for (const p of points) {
        if (!Number.isFinite(t(p.y))) {
          pen = false;
          continue;
        }
        if (pen) ctx.lineTo(px(p.x), py(p.y));
        else ctx.moveTo(px(p.x), py(p.y));
        pen = true;
      }
      ctx.stroke();
    });
    ctx.restore();
    this.drawLegend(ctx, plot);
    const [low, high] = [yTicks[0]!.label, yTicks[yTicks.length - 1]!.label];
    this.canvas.setAttribute('aria-label', `${this.title}: ${this.series.map((s) => s.name).join(', ')}; y axis ${low} to ${high}; x axis ${X_TITLE} 0 to ${xMax.toLocaleString('en-US')}`);
  }

  /** The legend, above the plot on the right: a line (or a dot) in each series' colour and its name. */
  private drawLegend(ctx: CanvasRenderingContext2D, plot: { x: number; w: number }): void {
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    let x = plot.x + plot.w;
    const y = MARGIN.top / 2;
    for (let i = this.series.length - 1; i >= 0; i--) {
      const style = this.series[i]!;
      ctx.fillStyle = '#333';
      ctx.fillText(style.name, x, y);
      x -= ctx.measureText(style.name).width + 4;
      ctx.fillStyle = style.color;
      if (style.dots) {
        ctx.beginPath();
        ctx.arc(x - 5, y, 2.5, 0, 2 * Math.PI);
        ctx.fill();
      } else {
        ctx.fillRect(x - 10, y - 1.5, 10, 3);
      }
      x -= 20;
    }
  }
}

/**
 * The decision boundary of a 2-D classifier: each cell of the grid the worker evaluated, coloured
 * by its predicted class (paler where the network is less sure), with the training points on top.
 */
export class BoundaryView {
  private points: { features: Float32Array; labels: Uint8Array } | null = null;

  constructor(readonly canvas: HTMLCanvasElement) {}

  setPoints(points: { features: Float32Array; labels: Uint8Array } | null): void {
    this.points = points;
  }

  draw(grid: { size: number; extent: number; classes: Uint8Array; confidence: Float32Array }): void {
    const ctx = fitCanvas(this.canvas);
    const { width, height } = this.canvas.getBoundingClientRect();
    // The grid as a small image, one pixel per cell, then scaled up smoothly.
    const image = new ImageData(grid.size, grid.size);
    for (let k = 0; k < grid.classes.length; k++) {
      const [r, g, b] = rgb(CLASS_COLORS[grid.classes[k]!]!);
      const strength = 0.25 + 0.5 * grid.confidence[k]!; // blend toward white where unsure
      image.data[4 * k] = 255 - strength * (255 - r);
      image.data[4 * k + 1] = 255 - strength * (255 - g);
      image.data[4 * k + 2] = 255 - strength * (255 - b);
      image.data[4 * k + 3] = 255;
    }
    const small = document.createElement('canvas');
    small.width = small.height = grid.size;
    small.getContext('2d')!.putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(small, 0, 0, width, height);

    if (!this.points) return;
    const { features, labels } = this.points;
    ctx.lineWidth = 1;
    ctx.strokeStyle = '#222';
    for (let i = 0; i < labels.length; i++) {
      const x = ((features[2 * i]! + grid.extent) / (2 * grid.extent)) * width;
      const y = ((grid.extent - features[2 * i + 1]!) / (2 * grid.extent)) * height;
      ctx.fillStyle = CLASS_COLORS[labels[i]!]!;
      ctx.beginPath();
      ctx.arc(x, y, 3, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
    }
  }
}

/** Test digits with the class the network predicts for each: green when right, red when wrong. */
export class DigitsView {
  constructor(
    readonly canvas: HTMLCanvasElement,
    /** The shown digits' pixels (784 bytes each, one digit after the other) and true labels. */
    readonly images: Uint8Array,
    readonly labels: Uint8Array,
  ) {}

  draw(predictions: Uint8Array): void {
    const ctx = fitCanvas(this.canvas);
    const { width, height } = this.canvas.getBoundingClientRect();
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, width, height);
    const perRow = 8;
    const cell = width / perRow;
    const size = Math.min(cell - 6, 56);
    const digit = new ImageData(28, 28);
    const tile = document.createElement('canvas');
    tile.width = tile.height = 28;
    ctx.font = '12px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    predictions.forEach((predicted, i) => {
      for (let p = 0; p < 784; p++) {
        const v = 255 - this.images[i * 784 + p]!; // dark ink on white
        digit.data.set([v, v, v, 255], 4 * p);
      }
      tile.getContext('2d')!.putImageData(digit, 0, 0);
      const x = (i % perRow) * cell + (cell - size) / 2;
      const y = Math.floor(i / perRow) * (size + 20) + 2;
      if (y + size > height) return;
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(tile, x, y, size, size);
      ctx.fillStyle = predicted === this.labels[i] ? '#009E73' : '#D55E00';
      ctx.fillText(String(predicted), x + size / 2, y + size + 2);
    });
  }
}

// --- helpers ---------------------------------------------------------------------------------

/** Sizes the canvas's backing store to its CSS size times the pixel ratio; returns a context in CSS pixels. */
function fitCanvas(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const { width, height } = canvas.getBoundingClientRect();
  const ratio = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(width * ratio)), h = Math.max(1, Math.round(height * ratio));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}

function line(ctx: CanvasRenderingContext2D, x0: number, y0: number, x1: number, y1: number): void {
  ctx.beginPath();
  ctx.moveTo(Math.round(x0) + 0.5, Math.round(y0) + 0.5);
  ctx.lineTo(Math.round(x1) + 0.5, Math.round(y1) + 0.5);
  ctx.stroke();
}

/** About five round tick values (1, 2 or 5 × 10^k apart, and at least `minStep`) covering [lo, hi]. */
function niceTicks(lo: number, hi: number, minStep = 0): number[] {
  const raw = Math.max((hi - lo) / 5, minStep);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/**
 * Ticks of a log axis whose range is [lo, hi] in log10 units: powers of ten, with 2× and 5× on
 * short ranges, and every second (third, …) power on long ones, so that about six labels fit.
 */
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  const multiples = hi - lo < 2 ? [1, 2, 5] : [1];
  const every = Math.max(1, Math.ceil((hi - lo) / 6));
  for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
    if (k % every !== 0) continue;
    for (const m of multiples) {
      const v = m * 10 ** k;
      if (Math.log10(v) >= lo - 1e-9 && Math.log10(v) <= hi + 1e-9) ticks.push(Number(v.toPrecision(6)));
    }
  }
  return ticks;
}

/** The nearest value of the form 1, 2 or 5 × 10^k below (or above) `value`. */
function roundLog(value: number, direction: 'down' | 'up'): number {
  const power = 10 ** Math.floor(Math.log10(value));
  const candidates = [1, 2, 5, 10].map((m) => m * power);
  return direction === 'down' ? candidates.filter((c) => c <= value * (1 + 1e-9)).pop()! : candidates.find((c) => c >= value * (1 - 1e-9))!;
}

/** Averages neighbouring points in pairs. */
function halve(points: { x: number; y: number }[]): { x: number; y: number }[] {
  const out: { x: number; y: number }[] = [];
  for (let i = 0; i + 1 < points.length; i += 2) {
    out.push({ x: (points[i]!.x + points[i + 1]!.x) / 2, y: (points[i]!.y + points[i + 1]!.y) / 2 });
  }
  if (points.length % 2 === 1) out.push(points[points.length - 1]!);
  return out;
}

/** `#rrggbb` as [r, g, b]. */
function rgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
