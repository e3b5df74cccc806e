/**
 * One configuration on the page: its controls, the worker that trains it, and its charts. In
 * side-by-side mode the page holds two panels, each with its own worker.
 */
import type { Split } from 'asymprop';
import { BoundaryView, DigitsView, LAYER_COLORS, LineChart, logTickLabel, type AxisOptions, type SeriesStyle } from './charts.js';
import { readFlip, readLearningRate, showNote } from './fields.js';
import { shownDigits, type FromWorker, type ToWorker } from './messages.js';
import {
  DATASETS, MAGNITUDES, METHODS, MIXED_COLOR, layerNames,
  type ConfigSettings, type DatasetName, type LayerFeedback, type Magnitude, type Method, type RunSettings,
} from './settings.js';

/** The digits file as fetched (sent to the worker) and decoded (drawn by the page). */
export interface DigitsData {
  readonly buffer: ArrayBuffer;
  readonly digits: Split;
}

/** Where a panel's run stands (also written to the panel's `data-state` attribute). */
export type PanelState = 'building' | 'ready' | 'running' | 'paused' | 'diverged' | 'error';

/** The controls of one row of the feedback table ("all layers", or one dense layer). */
interface RowControls {
  readonly name: HTMLElement;
  readonly method: HTMLSelectElement;
  readonly flip: HTMLInputElement;
  readonly magnitude: HTMLSelectElement;
  readonly v: HTMLElement;
}

const percent = (v: number) => `${(v * 100).toFixed(1)}%`;

/** A training curve (a line) and the test results (dots), both in the configuration's colour. */
function trainAndTest(color: string): SeriesStyle[] {
  return [{ name: 'train', color }, { name: 'test', color, dots: true }];
}

/**
 * One configuration: builds its section of the page from the `#panel-template`, keeps its
 * settings in step with the controls, drives its own training worker, and draws what the worker
 * reports. Every change of its settings builds a fresh run from the seed (same initial weights,
 * same batches), except the learning rate, which applies to the run in progress. Its `data-*`
 * attributes (the run's number, state, step, test accuracy, strategies, layer statistics, colour)
 * describe the current run, for scripts and tests.
 */
export class Panel {
  readonly element: HTMLElement;
  private settings: ConfigSettings;
  private dataset: DatasetName;
  private seed = 1;
  private digits: DigitsData | null = null;
  /** Counts the runs built; reports of an older run are dropped. */
  private runId = 0;
  private state: PanelState = 'building';
  /** Whether the page wants this panel to train (it may still be building, or have diverged). */
  private wanted = false;
  private worker: Worker;
  private readonly rows: { all: RowControls; layers: RowControls[] };
  private readonly controls: { bn: HTMLInputElement; bm: HTMLInputElement; lr: HTMLInputElement; status: HTMLElement };
  private readonly charts: Record<'loss' | 'accuracy' | 'angleVW' | 'signConcordance' | 'errorAngle', LineChart>;
  private readonly boundary: BoundaryView;
  private digitsView: DigitsView | null = null;

  /**
   * @param name `A` or `B`.
   * @param host where the panel is appended.
   * @param dataset the problem it will train on (call {@link Panel.reset} to build the run).
   * @param settings the configuration to start from.
   */
  constructor(readonly name: string, host: HTMLElement, dataset: DatasetName, settings: ConfigSettings) {
    this.dataset = dataset;
    this.settings = settings;
    const template = document.querySelector<HTMLTemplateElement>('#panel-template')!;
    this.element = (template.content.firstElementChild as HTMLElement).cloneNode(true) as HTMLElement;
    this.element.dataset.panel = name;
    this.role('name').textContent = name;
    host.append(this.element);

    // The feedback table: "all layers", then one row per dense layer.
    const tbody = this.role('layers');
    const all = this.addRow(tbody, true);
    const layers = settings.layers.map(() => this.addRow(tbody, false));
    this.rows = { all, layers };
    all.name.textContent = 'all layers';
    all.method.ariaLabel = 'feedback method of all layers';
    all.flip.ariaLabel = 'flip fraction of all layers';
    all.magnitude.ariaLabel = 'magnitude law of all layers';
    all.method.addEventListener('change', () => this.setAllLayers({ method: all.method.value as Method }));
    all.flip.addEventListener('change', () => this.setAllLayers({ flip: this.readFlip(all.flip) }));
    all.magnitude.addEventListener('change', () => this.setAllLayers({ magnitude: all.magnitude.value as Magnitude }));
    layers.forEach((row, i) => {
      row.method.addEventListener('change', () => this.setLayer(i, { method: row.method.value as Method }));
      row.flip.addEventListener('change', () => this.setLayer(i, { flip: this.readFlip(row.flip) }));
      row.magnitude.addEventListener('change', () => this.setLayer(i, { magnitude: row.magnitude.value as Magnitude }));
    });

    const input = (role: string) => this.element.querySelector<HTMLInputElement>(`[data-role="${role}"]`)!;
    this.controls = { bn: input('bn'), bm: input('bm'), lr: input('lr'), status: this.role('status') };
    // BN and BM change the network, or how it learns from its first step: both rebuild it.
    this.controls.bn.addEventListener('change', () => this.change({ bn: this.controls.bn.checked }));
    this.controls.bm.addEventListener('change', () => {
      const bm = this.controls.bm.checked;
      showNote(this.controls.lr, null); // the rate is now BM's default, whatever was typed before
      this.change({ bm, lr: DATASETS[this.dataset].lr[bm ? 'manhattan' : 'gradient'] });
    });
    this.controls.lr.addEventListener('change', () => {
      const { value, note } = readLearningRate(this.controls.lr.value, this.settings.lr);
      showNote(this.controls.lr, note);
      this.settings = { ...this.settings, lr: value };
      this.showSettings();
      this.post({ type: 'lr', lr: value });
    });

    const canvas = (chart: string) => this.element.querySelector<HTMLCanvasElement>(`canvas[data-chart="${chart}"]`)!;
    // Each chart is titled by its figure's caption.
    const chart = (name: string, series: readonly SeriesStyle[], axis: AxisOptions) =>
      new LineChart(canvas(name), series, axis, canvas(name).closest('figure')!.querySelector('figcaption')!.textContent!.trim());
    const layerSeries = layerNames(this.dataset).map((_, i) => ({ name: `dense ${i + 1}`, color: LAYER_COLORS[i]! }));
    const degrees = (v: number) => `${v}°`;
    this.charts = {
      loss: chart('loss', trainAndTest(MIXED_COLOR), { log: true, format: logTickLabel }),
      accuracy: chart('accuracy', trainAndTest(MIXED_COLOR), { min: 0, max: 1, format: (v) => `${Math.round(v * 100)}%` }),
      angleVW: chart('angleVW', layerSeries, { min: 0, softMax: 90, format: degrees }),
      signConcordance: chart('signConcordance', layerSeries, { min: 0, max: 1, format: (v) => String(v) }),
      errorAngle: chart('errorAngle', layerSeries, { min: 0, softMax: 90, format: degrees }),
    };
    this.boundary = new BoundaryView(canvas('boundary'));
    this.worker = this.startWorker();
    this.showSettings();
  }

  /** The configuration as the controls show it. */
  get config(): ConfigSettings {
    return this.settings;
  }

  /**
   * Builds a fresh run of this configuration on a problem and seed, and clears the charts. The
   * run starts training at once if the page wants it to ({@link Panel.run}).
   */
  reset(dataset: DatasetName, seed: number, digits: DigitsData | null): void {
    if (dataset !== this.dataset) {
      // The problems have different default learning rates; the feedback choices carry over.
      this.settings = { ...this.settings, lr: DATASETS[dataset].lr[this.settings.bm ? 'manhattan' : 'gradient'] };
    }
    this.dataset = dataset;
    this.seed = seed;
    this.digits = digits;
    this.rebuild();
  }

  /** Trains (now, or as soon as the run is built). */
  run(): void {
    this.wanted = true;
    if (this.state === 'ready' || this.state === 'paused') {
      this.post({ type: 'run' });
      this.setState('running');
    }
  }

  /** Stops training after the current slice of steps. */
  pause(): void {
    this.wanted = false;
    if (this.state === 'running') {
      this.post({ type: 'pause' });
      this.setState('paused');
    }
  }

  /** Stops the worker and removes the panel. */
  dispose(): void {
    this.worker.terminate();
    this.element.remove();
  }

  // --- the worker ----------------------------------------------------------------------------

  private startWorker(): Worker {
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (event: MessageEvent<FromWorker>) => this.receive(event.data);
    worker.onerror = (event) => this.fail(`the worker failed to load or crashed: ${event.message || 'no message'}`);
    return worker;
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  private runSettings(): RunSettings {
    return { ...this.settings, dataset: this.dataset, seed: this.seed };
  }

  /** Sends the current settings to the worker, which builds a new run; clears the charts. */
  private rebuild(): void {
    this.showSettings();
    for (const chart of Object.values(this.charts)) chart.clear();
    const mnist = this.dataset === 'mnist';
    this.role('boundary-figure').hidden = mnist;
    this.role('digits-figure').hidden = !mnist;
    this.digitsView = mnist && this.digits ? this.makeDigitsView(this.digits) : null;
    // The curves in the colour of the configuration's method (the one it has in the report's figures).
    const color = this.color();
    this.element.style.setProperty('--method-color', color);
    this.charts.loss.setSeries(trainAndTest(color));
    this.charts.accuracy.setSeries(trainAndTest(color));
    // The attributes describe the current run only (the browser test reads them).
    for (const key of ['step', 'testAccuracy', 'initialTestLoss', 'strategies', 'layerStats', 'lr']) delete this.element.dataset[key];
    this.element.dataset.dataset = this.dataset;
    this.element.dataset.color = color;
    this.setState('building');
    // The digits buffer is copied into the worker (each panel's worker gets its own copy).
    this.runId++;
    this.element.dataset.run = String(this.runId);
    this.post({ type: 'init', run: this.runId, settings: this.runSettings(), digits: mnist ? this.digits?.buffer ?? null : null });
  }

  /** The view of the test digits the worker reports predictions for. */
  private makeDigitsView({ digits: { test } }: DigitsData): DigitsView {
    const shown = shownDigits(test.size);
    const pixels = test.images.length / test.size;
    const images = new Uint8Array(shown.length * pixels);
    shown.forEach((index, i) => images.set(test.images.subarray(index * pixels, (index + 1) * pixels), i * pixels));
    const labels = Uint8Array.from(shown, (index) => test.labels[index]!);
    return new DigitsView(this.element.querySelector<HTMLCanvasElement>('canvas[data-chart="digits"]')!, images, labels);
  }

  /** The colour of the configuration: its method's, when every layer has the same one. */
  private color(): string {
    const [first, ...rest] = this.settings.layers.map((l) => l.method);
    return rest.every((m) => m === first) ? METHODS[first!]!.color : MIXED_COLOR;
  }

  /** Applies a change of the settings: a fresh run from the seed. */
  private change(change: Partial<ConfigSettings>): void {
    this.settings = { ...this.settings, ...change };
    this.rebuild();
  }

  /** A flip field's value as the page uses it, with a note beside the field when that is not what was typed. */
  private readFlip(input: HTMLInputElement): number {
    const { value, note } = readFlip(input.value);
    showNote(input, note);
    return value;
  }

  private receive(message: FromWorker): void {
    if (message.run !== this.runId) return; // sent before the last rebuild
    switch (message.type) {
      case 'ready':
        this.boundary.setPoints(message.points);
        if (message.boundary) this.boundary.draw(message.boundary);
        if (message.predictions) this.digitsView?.draw(message.predictions);
        this.charts.loss.add(1, 0, message.testLoss);
        this.charts.accuracy.add(1, 0, message.testAccuracy);
        this.element.dataset.initialTestLoss = String(message.testLoss);
        this.element.dataset.step = '0';
        this.element.dataset.testAccuracy = String(message.testAccuracy);
        this.element.dataset.strategies = message.strategies.join(',');
        this.element.dataset.threads = String(message.threads);
        this.status = `untrained: test accuracy ${percent(message.testAccuracy)} · feedback ${message.strategies.join(', ')}`;
        this.setState('ready');
        if (this.wanted) this.run();
        break;
      case 'progress': {
        const { step } = message;
        this.charts.loss.add(0, step, message.loss);
        this.charts.accuracy.add(0, step, message.trainAccuracy);
        if (message.test) {
          this.charts.loss.add(1, step, message.test.loss);
          this.charts.accuracy.add(1, step, message.test.accuracy);
          this.element.dataset.testAccuracy = String(message.test.accuracy);
        }
        if (message.layers) this.element.dataset.layerStats = JSON.stringify(message.layers);
        message.layers?.forEach((layer, i) => {
          this.charts.angleVW.add(i, step, layer.angleVW);
          this.charts.signConcordance.add(i, step, layer.signConcordance);
          this.charts.errorAngle.add(i, step, layer.errorAngle);
        });
        if (message.boundary) this.boundary.draw(message.boundary);
        if (message.predictions) this.digitsView?.draw(message.predictions);
        this.element.dataset.step = String(step);
        this.element.dataset.strategies = message.strategies.join(',');
        const test = Number(this.element.dataset.testAccuracy);
        this.status = `step ${step} · epoch ${message.epoch.toFixed(1)} · train loss ${message.loss.toPrecision(3)} · ` +
          `test accuracy ${percent(test)} · feedback ${message.strategies.join(', ')}`;
        break;
      }
      case 'lr-set':
        this.element.dataset.lr = String(message.lr);
        if (this.state !== 'running') this.status = `learning rate ${message.lr}, from the next step`;
        break;
      case 'diverged':
        this.wanted = false;
        this.setState('diverged');
        this.status = `diverged at step ${message.step}: the loss became ${message.loss}. Errors sent back through V ` +
          'that grow from layer to layer, or too large a learning rate, blew up the weights; try Batch Normalization, ' +
          'Batch Manhattan or a smaller rate, then Reset.';
        break;
      case 'error':
        this.fail(message.message);
        break;
    }
  }

  /** Shows an error in the panel's status line and stops asking it to train. */
  fail(message: string): void {
    this.wanted = false;
    this.setState('error');
    this.status = `error: ${message}`;
  }

  private setState(state: PanelState): void {
    this.state = state;
    this.element.dataset.state = state;
  }

  private set status(text: string) {
    this.controls.status.textContent = text;
  }

  // --- the controls --------------------------------------------------------------------------

  private role(role: string): HTMLElement {
    return this.element.querySelector<HTMLElement>(`[data-role="${role}"]`)!;
  }

  private addRow(tbody: HTMLElement, all: boolean): RowControls {
    const template = document.querySelector<HTMLTemplateElement>('#layer-row')!;
    const row = (template.content.firstElementChild as HTMLElement).cloneNode(true) as HTMLElement;
    tbody.append(row);
    const get = <T extends HTMLElement>(role: string) => row.querySelector<T>(`[data-role="${role}"]`)!;
    const controls: RowControls = {
      name: get('layer-name'),
      method: get<HTMLSelectElement>('method'),
      flip: get<HTMLInputElement>('flip'),
      magnitude: get<HTMLSelectElement>('magnitude'),
      v: get('v'),
    };
    for (const [value, { label }] of Object.entries(METHODS)) controls.method.add(new Option(label, value));
    for (const [value, label] of Object.entries(MAGNITUDES)) controls.magnitude.add(new Option(label, value));
    if (all) {
      // Shown when the layers differ.
      const mixed = new Option('(per layer)', 'mixed');
      mixed.disabled = true;
      controls.method.add(mixed);
      controls.magnitude.add(mixed.cloneNode(true) as HTMLOptionElement);
    }
    return controls;
  }

  private setAllLayers(change: Partial<LayerFeedback>): void {
    this.change({ layers: this.settings.layers.map((layer) => ({ ...layer, ...change })) });
  }

  private setLayer(index: number, change: Partial<LayerFeedback>): void {
    this.change({ layers: this.settings.layers.map((layer, i) => (i === index ? { ...layer, ...change } : layer)) });
  }

  /** Writes the settings into the controls (the "all layers" row shows a value only where the layers agree). */
  private showSettings(): void {
    const { layers } = this.settings;
    const names = layerNames(this.dataset);
    layers.forEach((layer, i) => {
      const row = this.rows.layers[i]!;
      row.name.textContent = names[i]!;
      row.method.ariaLabel = `feedback method of ${names[i]}`;
      row.flip.ariaLabel = `flip fraction of ${names[i]}`;
      row.magnitude.ariaLabel = `magnitude law of ${names[i]}`;
      row.method.value = layer.method;
      row.flip.value = String(layer.flip);
      row.magnitude.value = layer.magnitude;
      row.magnitude.disabled = !usesMagnitudes(layer.method);
      row.flip.disabled = !METHODS[layer.method]!.flip;
      row.v.textContent = describe(layer);
      row.v.title = METHODS[layer.method]!.hint;
    });
    const same = <K extends keyof LayerFeedback>(key: K) => layers.every((l) => l[key] === layers[0]![key]);
    const all = this.rows.all;
    all.method.value = same('method') ? layers[0]!.method : 'mixed';
    all.flip.value = same('flip') ? String(layers[0]!.flip) : '';
    all.magnitude.value = same('magnitude') ? layers[0]!.magnitude : 'mixed';
    all.magnitude.disabled = !layers.some((l) => usesMagnitudes(l.method));
    all.v.textContent = same('method') ? METHODS[layers[0]!.method]!.hint : 'each layer as set below';
    this.controls.bn.checked = this.settings.bn;
    this.controls.bm.checked = this.settings.bm;
    this.controls.lr.value = String(this.settings.lr);
  }
}

function usesMagnitudes(method: Method): boolean {
  return METHODS[method]?.magnitude ?? false;
}

/** The backward pass of one layer in a line, e.g. `V = M∘sign(W), M fixed; 10% of signs flipped`. */
function describe(layer: LayerFeedback): string {
  let text = METHODS[layer.method]!.v;
  if (usesMagnitudes(layer.method)) text += ` (${MAGNITUDES[layer.magnitude]})`;
  if (layer.flip > 0 && METHODS[layer.method]!.flip) text += `; ${Math.round(layer.flip * 100)}% of signs flipped`;
  return text;
}

