import type { InvocationRecord } from "../api/types";

export interface Bucket {
  /** Start of the bucket, ms since the epoch. */
  start: number;
  total: number;
  failed: number;
  /** Mean duration of the finished invocations in it, if any. */
  meanMs: number | undefined;
}

const FAILED = new Set(["failed", "dead_lettered"]);

/**
 * Groups invocations into `count` buckets of `widthMs` ending at `now`,
 * for the charts: how many, how many failed, how long they took.
 */
export function bucketize(items: InvocationRecord[], now: number, widthMs: number, count: number): Bucket[] {
  const first = now - widthMs * count;
  const buckets: Bucket[] = Array.from({ length: count }, (_, i) => ({ start: first + i * widthMs, total: 0, failed: 0, meanMs: undefined }));
  const sums = new Array<number>(count).fill(0);
  const timed = new Array<number>(count).fill(0);
  for (const inv of items) {
    const t = Date.parse(inv.createdAt);
    if (Number.isNaN(t) || t < first || t >= now) continue;
    const i = Math.floor((t - first) / widthMs);
    const b = buckets[i];
    if (!b) continue;
    b.total++;
    if (FAILED.has(inv.status)) b.failed++;
    if (inv.durationMs !== undefined) {
      sums[i] = (sums[i] ?? 0) + inv.durationMs;
      timed[i] = (timed[i] ?? 0) + 1;
    }
  }
  buckets.forEach((b, i) => {
    const n = timed[i] ?? 0;
    if (n > 0) b.meanMs = (sums[i] ?? 0) / n;
  });
  return buckets;
}

export interface Summary {
  total: number;
  failed: number;
  errorRate: number | undefined;
  p50Ms: number | undefined;
  p95Ms: number | undefined;
}

export function summarize(items: InvocationRecord[]): Summary {
  const done = items.filter((i) => i.status === "succeeded" || FAILED.has(i.status));
  const failed = done.filter((i) => FAILED.has(i.status)).length;
  const durations = items.flatMap((i) => (i.durationMs === undefined ? [] : [i.durationMs])).sort((a, b) => a - b);
  return {
    total: items.length,
    failed,
    errorRate: done.length === 0 ? undefined : failed / done.length,
    p50Ms: percentile(durations, 0.5),
    p95Ms: percentile(durations, 0.95),
  };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1];
}
