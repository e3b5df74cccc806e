/**
 * Which runs of a grid the results hold. Every record written by `asymprop reproduce` names its
 * grid (preset, options, size) and shard, so the report can rebuild the grid's run list and name
 * exactly what is missing: a shard that failed, is still running, or whose file was not given
 * leaves a hole that the report shows, shard by shard, instead of a silently smaller table.
 */
import { gridFlags, gridFor, shardOf, type GridIdentity } from '../grid.js';
import type { ResultRecord } from '../results.js';

/** One grid's coverage by the records. */
export interface GridCoverage {
  /** The grid's `asymprop reproduce` flags, e.g. `--preset quick --epochs 1`. */
  readonly flags: string;
  /** How many runs the grid has. */
  readonly runs: number;
  /** The ids of its runs that no record holds, in grid order; null when the run list could not be rebuilt. */
  readonly missing: readonly string[] | null;
  /** Why the run list could not be rebuilt (a method not registered here, say), or null. */
  readonly problem: string | null;
  /** Per shard, when the records came from shards of one count: how many of its runs are present. */
  readonly shards: readonly {
    /** The shard's number, 1 to `count`. */
    index: number;
    /** The number of shards. */
    count: number;
    /** How many runs of the grid the shard has. */
    runs: number;
    /** How many of them the records hold. */
    present: number;
  }[];
  /** The shard counts the records came from (1: unsharded), when more than one. */
  readonly mixedCounts: readonly number[];
}

const keyOf = (g: GridIdentity): string => JSON.stringify([g.preset, g.options, g.runs]);

/** The coverage of every grid the records name (none for records written before records named their grid). */
export function gridCoverage(records: readonly ResultRecord[]): GridCoverage[] {
  const groups = new Map<string, { grid: GridIdentity; counts: Set<number> }>();
  for (const r of records) {
    if (!r.grid) continue;
    const key = keyOf(r.grid);
    const group = groups.get(key) ?? { grid: r.grid, counts: new Set<number>() };
    group.counts.add(r.grid.shard?.count ?? 1);
    groups.set(key, group);
  }
  const have = new Set(records.map((r) => r.id));
  return [...groups.values()].map(({ grid, counts }) => {
    const flags = gridFlags(grid);
    let ids: string[];
    try {
      ids = gridFor(grid.preset, grid.options).map((r) => r.id);
    } catch (e) {
      return { flags, runs: grid.runs, missing: null, problem: (e as Error).message, shards: [], mixedCounts: [] };
    }
    if (ids.length !== grid.runs) {
      return { flags, runs: grid.runs, missing: null, problem: `this version of asymprop makes ${ids.length} runs of it, the records' ${grid.runs}`, shards: [], mixedCounts: [] };
    }
    // Shards are reported when every record of the grid came from shards of one count.
    const count = counts.size === 1 ? [...counts][0]! : 1;
    const shards = count > 1
      ? Array.from({ length: count }, (_, i) => {
          const own = shardOf(ids, { index: i + 1, count });
          return { index: i + 1, count, runs: own.length, present: own.filter((id) => have.has(id)).length };
        })
      : [];
    const mixedCounts = counts.size > 1 ? [...counts].sort((a, b) => a - b) : [];
    return { flags, runs: grid.runs, missing: ids.filter((id) => !have.has(id)), problem: null, shards, mixedCounts };
  });
}
