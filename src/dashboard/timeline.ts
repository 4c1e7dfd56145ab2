import { RANGES, type Range } from "./filters.ts";

/** Bucket widths the analytics charts use, in seconds. */
export const BUCKETS = { minute: 60, hour: 3600, day: 86_400, week: 7 * 86_400 } as const;
export type Bucket = keyof typeof BUCKETS;

/** The time window of a chart: the x scale runs from `from` to `to` (epoch seconds) in buckets of `step` seconds. */
export interface Timeline {
  from: number;
  to: number;
  bucket: Bucket;
  step: number;
  /** Start of every bucket in the window, oldest first (the chart's x values). */
  times: number[];
}

/** Bucket that fits a range: enough points to show a shape, few enough to read (1 h: minutes, 24 h and 7 d: hours, 30 d: days). */
export function bucketFor(range: Range, spanMs: number): Bucket {
  if (range === "1h") return "minute";
  if (range === "24h" || range === "7d") return "hour";
  return spanMs > 400 * 86_400_000 ? "week" : "day";
}

/**
 * The window of a range ending now. Buckets are aligned on epoch multiples of their width (UTC days), so the SQL
 * (`floor(epoch / step) * step`) and this list agree without time-zone arithmetic; the first bucket is the one that
 * holds `now - range`, so the axis spans the range plus at most one bucket. "all" starts at the oldest result
 * (`firstAt`), or 30 days back on an empty database.
 */
export function timeline(range: Range, now: number, firstAt: number | null = null): Timeline {
  const span = RANGES[range] || Math.max(now - (firstAt ?? now - RANGES["30d"]), RANGES["1h"]);
  const bucket = bucketFor(range, span);
  const step = BUCKETS[bucket];
  const to = Math.floor(now / 1000);
  const from = Math.floor((to - span / 1000) / step) * step;
  const times: number[] = [];
  for (let t = from; t <= to; t += step) times.push(t);
  return { from, to, bucket, step, times };
}

/** Aligned chart columns: one value per bucket and key, empty buckets as zeros (uPlot's `[times, ...series]`). */
export interface AlignedSeries {
  keys: string[];
  values: number[][];
}

/** Pivots sparse `{t, key, n}` rows onto the timeline; rows outside it are dropped. */
export function align<K extends string>(rows: ({ t: number; n: number } & Record<K, string | number>)[], key: K, tl: Timeline): AlignedSeries {
  const keys = [...new Set(rows.map((r) => String(r[key])))].sort();
  const values = keys.map(() => tl.times.map(() => 0));
  for (const r of rows) {
    const i = Math.round((r.t - tl.from) / tl.step);
    if (i < 0 || i >= tl.times.length) continue;
    values[keys.indexOf(String(r[key]))]![i]! += r.n;
  }
  return { keys, values };
}
