/**
 * Small helpers shared by the report's modules: orderings, averages, number formatting and the
 * lookup of a table's cells.
 */
import { NORMALISATIONS, type NormalisationName } from '../grid.js';
import type { Cell, Score } from './analysis.js';

export const NORM_ORDER: readonly string[] = NORMALISATIONS.map((n) => n.name);
export const SWEEP_ROWS: readonly NormalisationName[] = ['BN', 'BN+BM'];

export const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Orders `present` by `order` first, then the rest sorted. */
export function ordered(order: readonly string[], present: Iterable<string>, keepAll = true): string[] {
  const set = new Set(present);
  const head = order.filter((x) => keepAll || set.has(x));
  const tail = [...set].filter((x) => !order.includes(x)).sort(byString);
  return [...head, ...tail];
}

export const unique = <T>(xs: Iterable<T>): T[] => [...new Set(xs)];
export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
export const pct = (x: number): string => x.toFixed(1);

export function scoreOf(cell: Cell | undefined): Score {
  if (!cell || cell.runCount === 0) return null;
  if (cell.best) return cell.best.mean;
  return cell.allDiverged ? 'diverged' : null;
}

export const cellKey = (row: string, col: string): string => `${row}\u0000${col}`;
