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

/** Room around the plot: tick labels on the left and bottom, the legend on top. */
const MARGIN = { left: 44, right: 10, top: 18, bottom: 20 };

/**
 * A line chart of one or more series against the training step. `add` records a point and asks
 * for a redraw on the next animation frame, so a burst of points costs one drawing.
 */
export class LineChart {
  private readonly points: { x: number; y: number }[][];
  private pending = false;

  constructor(
    readonly canvas: HTMLCanvasElement,
    readonly series: readonly SeriesStyle[],
    readonly axis: AxisOptions,
  ) {
    this.points = series.map(() => []);
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

  /** Draws the axes, the grid, every series and the legend. */
  draw(): void {
    const ctx = fitCanvas(this.canvas);
    const { width, height } = this.canvas.getBoundingClientRect();
    const plot = { x: MARGIN.left, y: MARGIN.top, w: width - MARGIN.left - MARGIN.right, h: height - MARGIN.top - MARGIN.bottom };
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, width, height);

    // Scales: x from 0 to the last step; y from the fixed bounds or the data.
    const all = this.points.flat();
    const xMax = Math.max(1, ...all.map((p) => p.x));
    const t = (v: number) => (this.axis.log ? Math.log10(v) : v);
    const ys = all.map((p) => t(p.y)).filter(Number.isFinite);
    let yMin = this.axis.min !== undefined ? t(this.axis.min) : Math.min(...ys);
    let yMax = this.axis.max !== undefined ? t(this.axis.max) : Math.max(...ys, this.axis.softMax !== undefined ? t(this.axis.softMax) : -Infinity);
    if (!Number.isFinite(yMin) || !Number.isFinite(yMax)) [yMin, yMax] = this.axis.log ? [-1, 0] : [0, 1];
    if (yMax - yMin < 1e-9) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
    // A few pixels of air inside the frame, so lines at the bounds (0°, 100%) stay visible.
    const pad = 4;
    const px = (x: number) => plot.x + (x / xMax) * plot.w;
    const py = (y: number) => plot.y + plot.h - pad - ((t(y) - yMin) / (yMax - yMin)) * (plot.h - 2 * pad);

    // Grid and tick labels.
    ctx.font = '11px system-ui, sans-serif';
    ctx.strokeStyle = '#e4e4e4';
    ctx.fillStyle = '#666';
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    const yTicks = this.axis.log ? logTicks(yMin, yMax) : niceTicks(yMin, yMax);
    for (const v of yTicks) {
      const y = py(v);
      line(ctx, plot.x, y, plot.x + plot.w, y);
      ctx.fillText(this.axis.format(v), plot.x - 4, y);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const v of niceTicks(0, xMax)) {
      const x = px(v);
      line(ctx, x, plot.y, x, plot.y + plot.h);
      ctx.fillText(String(v), x, plot.y + plot.h + 4);
    }
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
        for (const p of points) {
          if (!Number.isFinite(t(p.y))) continue;
          ctx.beginPath();
          ctx.arc(px(p.x), py(p.y), 2.5, 0, 2 * Math.PI);
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

    // Legend, above the plot on the right.
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
      ctx.fillRect(x - 10, y - 1.5, 10, 3);
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

/** About five round tick values (1, 2 or 5 × 10^k apart) covering [lo, hi]. */
function niceTicks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Ticks of a log axis whose range is [lo, hi] in log10 units: powers of ten, with 2× and 5× on short ranges. */
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  const multiples = hi - lo < 2 ? [1, 2, 5] : [1];
  for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
    for (const m of multiples) {
      const v = m * 10 ** k;
      if (Math.log10(v) >= lo - 1e-9 && Math.log10(v) <= hi + 1e-9) ticks.push(Number(v.toPrecision(6)));
    }
  }
  return ticks;
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
