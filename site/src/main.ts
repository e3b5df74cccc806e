/**
 * The page: the run controls (problem, seed, start, pause, reset, side by side) and one or two
 * configuration panels, each training in its own Web Worker.
 */
import { decodeSplit } from 'asymprop';
import { readSeed, showNote } from './fields.js';
import { Panel, type DigitsData } from './panel.js';
import { DIGITS_FILE } from './assets.js';
import { defaultConfig, type DatasetName } from './settings.js';

const $ = <T extends HTMLElement>(selector: string) => document.querySelector<T>(selector)!;
const datasetSelect = $<HTMLSelectElement>('#dataset');
const seedInput = $<HTMLInputElement>('#seed');
const startButton = $<HTMLButtonElement>('#start');
const pauseButton = $<HTMLButtonElement>('#pause');
const resetButton = $<HTMLButtonElement>('#reset');
const compareBox = $<HTMLInputElement>('#compare');
const panelsHost = $<HTMLElement>('#panels');

const DATASET_HINTS: Record<DatasetName, string> = {
  spirals: '600 points in the plane, three interleaved spirals; network 2→64→64→3 (ReLU), batches of 30. ' +
    'Small enough to watch the decision boundary form.',
  mnist: "2,000 real MNIST digits to train on and 500 to test (a fixed subset of the library's embedded digits); " +
    "the paper's network 784→256→256→10 (ReLU), batches of 100.",
};

let running = false;
const panels: Panel[] = [new Panel('A', panelsHost, dataset(), defaultConfig(dataset()))];

/** The digits file, fetched once, the first time MNIST is chosen. */
let digitsRequest: Promise<DigitsData> | null = null;
function loadDigits(): Promise<DigitsData> {
  digitsRequest ??= fetch(new URL(DIGITS_FILE, document.baseURI))
    .then((response) => {
      if (!response.ok) throw new Error(`${DIGITS_FILE}: HTTP ${response.status}`);
      return response.arrayBuffer();
    })
    .then((buffer) => ({ buffer, digits: decodeSplit(buffer, DIGITS_FILE) }));
  return digitsRequest;
}

function dataset(): DatasetName {
  return datasetSelect.value as DatasetName;
}

/** The seed of every run: the field's, read when it changes (see {@link readSeedField}). */
let seed = readSeed(seedInput.value).value;

/** Reads the seed field; a value that is not a seed is replaced, with a note beside the field saying so. */
function readSeedField(): void {
  const { value, note } = readSeed(seedInput.value);
  showNote(seedInput, note);
  seedInput.value = String(value);
  seed = value;
}

/** Rebuilds every panel's run on the current problem and seed; they keep training if they were. */
async function resetAll(): Promise<void> {
  $('#dataset-hint').textContent = DATASET_HINTS[dataset()];
  try {
    const digits = dataset() === 'mnist' ? await loadDigits() : null;
    for (const panel of panels) panel.reset(dataset(), seed, digits);
  } catch (e) {
    digitsRequest = null; // try again next time
    for (const panel of panels) panel.fail(`could not load the digits: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function setRunning(value: boolean): void {
  running = value;
  for (const panel of panels) (value ? panel.run() : panel.pause());
  startButton.disabled = value;
  pauseButton.disabled = !value;
}

startButton.addEventListener('click', () => setRunning(true));
pauseButton.addEventListener('click', () => setRunning(false));
resetButton.addEventListener('click', () => {
  setRunning(false);
  void resetAll();
});
datasetSelect.addEventListener('change', () => void resetAll());
seedInput.addEventListener('change', () => {
  readSeedField();
  void resetAll();
});

compareBox.addEventListener('change', () => {
  if (compareBox.checked) {
    // B starts as a copy of A; both restart so that they train from the same point.
    const b = new Panel('B', panelsHost, dataset(), panels[0]!.config);
    panels.push(b);
    if (running) b.run();
    void resetAll();
  } else {
    panels.splice(1).forEach((panel) => panel.dispose());
  }
  document.body.classList.toggle('comparing', compareBox.checked);
});

void resetAll();
