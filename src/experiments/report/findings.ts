/**
 * The verdicts on the paper's four findings, computed from the tables by fixed, documented rules
 * ({@link FINDING_THRESHOLDS}), and the text that explains the rules.
 */
import { methods } from '../../feedback/registry.js';
import type { Score, Table } from './analysis.js';
import { NORM_ORDER, cellKey, mean, pct, scoreOf } from './util.js';

/**
 * The thresholds of the findings' rules, in percentage points of test accuracy (except the
 * correlation). They are printed in every report's "How the findings are judged" paragraph.
 */
export const FINDING_THRESHOLDS = {
  /** Finding 1: the largest spread (max − min) across magnitude laws that still counts as "does not matter". */
  magnitudeSpread: 2,
  /** Finding 2: Spearman correlation of accuracy with the flipped fraction must be at most this. */
  signSpearman: -0.8,
  /** Finding 2: accuracy at the largest flip must be at least this far below the smallest flip. */
  signDrop: 10,
  /** Finding 3: brsf and frsf within this many points of bp. */
  symmetryGap: 2,
  /** Finding 4: without BN and BM, a sign-concordant method fails if it diverges or falls this far below bp. */
  failGap: 10,
  /** Finding 4: with BN and/or BM, a sign-concordant method learns if it comes within this many points of bp. */
  learnGap: 3,
} as const;

/** A finding's verdict. */
export type Verdict = 'supported' | 'partly supported' | 'not supported' | 'not tested in these results';

/** The verdict on one of the paper's findings, with the sentence that states it. */
export interface Finding {
  /**
   * Which finding: 1, magnitudes do not matter; 2, signs do; 3, random magnitudes with concordant
   * signs reach backprop's accuracy; 4, without BN and/or BM asymmetric feedback fails, with them
   * it learns.
   */
  readonly number: 1 | 2 | 3 | 4;
  /** The paper's claim, as a sentence without the verdict. */
  readonly claim: string;
  /** What these results say about the claim. */
  readonly verdict: Verdict;
  /** The numbers behind the verdict. */
  readonly detail: string;
  /** One sentence: the claim, the verdict and the numbers. */
  readonly sentence: string;
}

/** The protocol's asymmetric sign-concordant methods (usf, brsf, frsf), from the registry. */
const SIGN_CONCORDANT: readonly string[] = methods('protocol').filter((m) => m.signConcordant && m.name !== 'bp').map((m) => m.name);
/** Those of them with random magnitudes (brsf, frsf): the ones finding 3 is about. */
const CONCORDANT: readonly string[] = methods('protocol').filter((m) => m.signConcordant && m.magnitude).map((m) => m.name);
const CLAIMS: Record<Finding['number'], string> = {
  1: 'The magnitudes of the feedback weights do not matter',
  2: 'The signs of the feedback weights do matter',
  3: 'Random magnitudes with 100% concordant signs reach about the accuracy of backprop',
  4: 'Without BN and/or BM asymmetric feedback fails; with them it learns',
};

const pts = (x: number): string => (Number.isFinite(x) ? Math.abs(x).toFixed(1) : '∞');

function verdictOf(passes: readonly boolean[]): Verdict {
  if (passes.length === 0) return 'not tested in these results';
  if (passes.every(Boolean)) return 'supported';
  return passes.some(Boolean) ? 'partly supported' : 'not supported';
}

function finding(number: Finding['number'], verdict: Verdict, detail: string): Finding {
  const sentence = verdict === 'not tested in these results' ? `${CLAIMS[number]}: ${verdict} (${detail}).` : `${CLAIMS[number]}: ${verdict}; ${detail}.`;
  return { number, claim: CLAIMS[number], verdict, detail, sentence };
}

/** Average ranks (ties share the mean of their ranks). */
function ranks(xs: readonly number[]): number[] {
  const order = xs.map((_, i) => i).sort((a, b) => xs[a]! - xs[b]! || 0);
  const out = new Array<number>(xs.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && xs[order[j + 1]!] === xs[order[i]!]) j++;
    for (let k = i; k <= j; k++) out[order[k]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return out;
}

/** Spearman's rank correlation (NaN when either variable is constant). */
export function spearman(x: readonly number[], y: readonly number[]): number {
  const rx = ranks(x), ry = ranks(y);
  const mx = mean(rx), my = mean(ry);
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i]! - mx) * (ry[i]! - my);
    sxx += (rx[i]! - mx) ** 2;
    syy += (ry[i]! - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

const scoreText = (s: Score): string => (s === null ? 'missing' : s === 'diverged' ? 'diverged' : pct(s));
/** A score as a number for comparisons: a diverged cell is below every accuracy. */
const scoreValue = (s: number | 'diverged'): number => (s === 'diverged' ? -Infinity : s);

function judgeMagnitudes(tables: readonly Table[]): Finding {
  const passes: boolean[] = [];
  const notes: string[] = [];
  for (const t of tables) {
    for (const row of t.rows) {
      const scored = t.cols.flatMap((col) => {
        const s = scoreOf(t.cells.get(cellKey(row, col)));
        return s === null ? [] : [{ law: col, s }];
      });
      if (scored.length < 2) continue;
      const values = scored.map((x) => scoreValue(x.s));
      const hi = scored[values.indexOf(Math.max(...values))]!;
      const lo = scored[values.indexOf(Math.min(...values))]!;
      const spread = scoreValue(hi.s) - scoreValue(lo.s);
      const ok = spread <= FINDING_THRESHOLDS.magnitudeSpread;
      passes.push(ok);
      const diverged = scored.filter((x) => x.s === 'diverged').map((x) => x.law);
      notes.push(
        `under ${row} the ${t.arch}/${t.method} accuracy across ${scored.length} magnitude laws spans ${pts(spread)} points (${lo.law} ${scoreText(lo.s)} to ${hi.law} ${scoreText(hi.s)}${diverged.length ? `; diverged: ${diverged.join(', ')}` : ''}), ${ok ? 'within' : 'more than'} ${FINDING_THRESHOLDS.magnitudeSpread}`,
      );
    }
  }
  return finding(1, verdictOf(passes), notes.length ? notes.join('; ') : 'no magnitude-part row with at least two laws');
}

function judgeSigns(tables: readonly Table[]): Finding {
  const passes: boolean[] = [];
  const notes: string[] = [];
  for (const t of tables) {
    for (const row of t.rows) {
      const pts_ = t.cols.flatMap((col) => {
        const s = scoreOf(t.cells.get(cellKey(row, col)));
        return s === null ? [] : [{ flip: Number(col), s }];
      });
      if (pts_.length < 3) continue;
      const rho = spearman(
        pts_.map((p) => p.flip),
        pts_.map((p) => scoreValue(p.s)),
      );
      const first = pts_[0]!, last = pts_[pts_.length - 1]!;
      const drop = scoreValue(first.s) - scoreValue(last.s);
      const ok = rho <= FINDING_THRESHOLDS.signSpearman && drop >= FINDING_THRESHOLDS.signDrop;
      passes.push(ok);
      const dropText = last.s === 'diverged' && first.s !== 'diverged' ? `diverges at flip ${last.flip}` : `${drop >= 0 ? 'falls' : 'rises'} by ${pts(drop)} points from flip ${first.flip} (${scoreText(first.s)}) to flip ${last.flip} (${scoreText(last.s)})`;
      notes.push(`under ${row} the ${t.arch}/${t.method} accuracy ${dropText}, Spearman ρ = ${Number.isNaN(rho) ? 'undefined' : rho.toFixed(2)} over ${pts_.length} flip fractions`);
    }
  }
  return finding(2, verdictOf(passes), notes.length ? notes.join('; ') : 'no sign-part row with at least three flip fractions');
}

/** bp − method in percentage points (Infinity if only the method diverged, −Infinity if only bp did). */
function gap(bp: number | 'diverged', m: number | 'diverged'): number {
  if (bp === 'diverged') return m === 'diverged' ? 0 : -Infinity;
  return m === 'diverged' ? Infinity : bp - m;
}
const gapText = (g: number): string => (g === Infinity ? 'diverged where bp did not' : g === -Infinity ? 'learned where bp diverged' : `${pts(g)} points ${g >= 0 ? 'below' : 'above'} bp`);

function judgeSymmetry(tables: readonly Table[]): Finding {
  const passes: boolean[] = [];
  const notes: string[] = [];
  for (const t of tables) {
    let bestRow: string | null = null;
    let bestValue = -Infinity;
    for (const row of t.rows) {
      const ss = [...CONCORDANT, 'bp'].map((m) => scoreOf(t.cells.get(cellKey(row, m))));
      if (ss.some((s) => s === null)) continue;
      const v = mean(ss.slice(0, CONCORDANT.length).map((s) => scoreValue(s as number | 'diverged')));
      if (bestRow === null || v > bestValue) {
        bestRow = row;
        bestValue = v;
      }
    }
    if (bestRow === null) continue;
    const bp = scoreOf(t.cells.get(cellKey(bestRow, 'bp'))) as number | 'diverged';
    const gaps = CONCORDANT.map((m) => ({ m, g: gap(bp, scoreOf(t.cells.get(cellKey(bestRow!, m))) as number | 'diverged') }));
    const ok = gaps.every(({ g }) => g <= FINDING_THRESHOLDS.symmetryGap);
    passes.push(ok);
    notes.push(`in ${t.arch} with ${bestRow} (their best setting; bp ${scoreText(bp)}) ${gaps.map(({ m, g }) => `${m} is ${gapText(g)}`).join(' and ')}, ${ok ? 'within' : 'not within'} ${FINDING_THRESHOLDS.symmetryGap}`);
  }
  return finding(3, verdictOf(passes), notes.length ? notes.join('; ') : 'no main-part setting with bp, brsf and frsf');
}

function judgeNormalisation(tables: readonly Table[]): Finding {
  const fails: boolean[] = [];
  const learns: boolean[] = [];
  const notes: string[] = [];
  for (const t of tables) {
    const without: string[] = [];
    const withNorm: string[] = [];
    let tested = false;
    const bpNone = scoreOf(t.cells.get(cellKey('none', 'bp')));
    for (const m of SIGN_CONCORDANT) {
      const none = scoreOf(t.cells.get(cellKey('none', m)));
      const others = t.rows
        .filter((row) => row !== 'none')
        .flatMap((row) => {
          const bp = scoreOf(t.cells.get(cellKey(row, 'bp')));
          const s = scoreOf(t.cells.get(cellKey(row, m)));
          return bp === null || s === null ? [] : [{ row, g: gap(bp, s) }];
        })
        .sort((a, b) => a.g - b.g || NORM_ORDER.indexOf(a.row) - NORM_ORDER.indexOf(b.row));
      if (bpNone === null || none === null || others.length === 0) continue;
      tested = true;
      const g = gap(bpNone, none);
      const failed = none === 'diverged' || g >= FINDING_THRESHOLDS.failGap;
      fails.push(failed);
      without.push(none === 'diverged' ? `${m} diverged` : `${m} ${gapText(g)}`);
      const best = others[0]!;
      learns.push(best.g <= FINDING_THRESHOLDS.learnGap);
      withNorm.push(`${m} ${gapText(best.g)} (${best.row})`);
    }
    if (tested) notes.push(`${t.arch} without BN and BM: ${without.join(', ')}; with them at best: ${withNorm.join(', ')}`);
  }
  let verdict: Verdict;
  if (fails.length === 0) verdict = 'not tested in these results';
  else if (!learns.every(Boolean)) verdict = 'not supported';
  else verdict = fails.every(Boolean) ? 'supported' : 'partly supported';
  const rule = `failing means diverging or falling ≥ ${FINDING_THRESHOLDS.failGap} points below bp, learning means within ${FINDING_THRESHOLDS.learnGap}`;
  return finding(4, verdict, notes.length ? `${notes.join('; ')} (${rule})` : 'no main-part table with bp and the sign-concordant methods both without and with BN or BM');
}

export function judgeFindings(main: readonly Table[], sign: readonly Table[], magnitude: readonly Table[]): Finding[] {
  return [judgeMagnitudes(magnitude), judgeSigns(sign), judgeSymmetry(main), judgeNormalisation(main)];
}

export function howJudged(): string {
  const T = FINDING_THRESHOLDS;
  return [
    '### How the findings are judged',
    '',
    "Every number is a cell's mean test accuracy over seeds at its best learning rate (the rate with the fewest diverged seeds, then the highest mean over the seeds that did not diverge), in percent; differences are in percentage points. A cell whose runs all diverged counts as below any accuracy.",
    '',
    `- (1) Magnitudes: for each BN row of the magnitude part (BN, BN+BM), the spread (max − min) across the magnitude laws must be ≤ ${T.magnitudeSpread} points; supported if every row passes, partly supported if some do.`,
    `- (2) Signs: for each row of the sign part, the Spearman correlation between flip fraction and accuracy must be ≤ ${T.signSpearman} and accuracy at the largest flip at least ${T.signDrop} points below the smallest flip (or diverged); supported if every row passes, partly supported if some do.`,
    `- (3) Sign-concordant feedback with random magnitudes: in each architecture's normalisation setting where the mean of brsf and frsf is highest, both must be within ${T.symmetryGap} points of bp in that setting; supported if every architecture passes, partly supported if some do.`,
    `- (4) Normalisation: without BN and BM, each of usf, brsf and frsf must diverge or fall ≥ ${T.failGap} points below bp (fails), and with BN and/or BM (its best of BN, BM, BN+BM, against bp in the same setting) come within ${T.learnGap} points of bp (learns); supported if all fail without and learn with, partly supported if all learn with but some also learn without, not supported if some never learn.`,
    '',
    'A finding whose part of the grid is absent is "not tested in these results".',
    '',
  ].join('\n');
}
