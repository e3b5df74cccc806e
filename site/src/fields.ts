/**
 * The numbers typed into the page's fields: what the page uses for each, and a note beside the
 * field whenever that is not what was typed, so that nothing is corrected silently.
 */

/** What the page makes of a typed number: the value it uses, and why it differs when it does. */
export interface FieldReading {
  readonly value: number;
  /** Shown beside the field; null when the typed value is used as it is. */
  readonly note: string | null;
}

/** The typed text as a number (NaN when empty: a number field empties itself of what is not one). */
function typedNumber(text: string): number {
  return text.trim() === '' ? NaN : Number(text);
}

/** How the typed text reads in a note: `−5`, or `nothing` for an empty field. */
function quoted(text: string): string {
  return text.trim() === '' ? 'nothing' : text.trim().replace(/^-/, '−');
}

/**
 * A learning rate: a finite number above 0. Anything else keeps the rate in force.
 *
 * @param text the field's text.
 * @param kept the rate in force.
 */
export function readLearningRate(text: string, kept: number): FieldReading {
  const lr = typedNumber(text);
  if (Number.isFinite(lr) && lr > 0) return { value: lr, note: null };
  return { value: kept, note: `${quoted(text)} is not a learning rate (a number above 0): kept ${kept}.` };
}

/** A flip fraction: a number in [0, 1]; one outside is clamped to the nearest end, no number is 0. */
export function readFlip(text: string): FieldReading {
  const flip = typedNumber(text);
  if (flip >= 0 && flip <= 1) return { value: flip, note: null };
  const value = Number.isNaN(flip) ? 0 : flip < 0 ? 0 : 1;
  return { value, note: `${quoted(text)} is not a fraction in [0, 1]: using ${value}.` };
}

/** A seed: a whole number, 0 or more; a fraction is rounded down, anything else is 0. */
export function readSeed(text: string): FieldReading {
  const seed = typedNumber(text);
  if (Number.isInteger(seed) && seed >= 0) return { value: seed, note: null };
  const value = Number.isFinite(seed) && seed >= 0 ? Math.floor(seed) : 0;
  return { value, note: `${quoted(text)} is not a seed (a whole number, 0 or more): using ${value}.` };
}

/** Numbers the notes, for their ids. */
let notes = 0;

/**
 * Shows a reading's note beside its field (in an element that follows the field, made the first
 * time, and announced to screen readers), or removes it when there is none.
 */
export function showNote(input: HTMLInputElement, note: string | null): void {
  let element = input.nextElementSibling;
  if (!element?.classList.contains('field-note')) {
    element = document.createElement('span');
    element.className = 'field-note';
    element.setAttribute('role', 'status');
    element.id = `field-note-${++notes}`;
    input.after(element);
    input.setAttribute('aria-describedby', element.id);
  }
  element.textContent = note ?? '';
  (element as HTMLElement).hidden = note === null;
}
