import { describe, expect, it } from "vitest";
import type { InvocationRecord } from "../api/types";
import { bucketize, percentile, summarize } from "./stats";

const T0 = Date.parse("2026-01-01T12:00:00Z");

function inv(offsetMs: number, status: InvocationRecord["status"], durationMs?: number): InvocationRecord {
  return {
    id: "0".repeat(32),
    tenant: "t",
    function: "f",
    async: false,
    status,
    attempts: 1,
    createdAt: new Date(T0 + offsetMs).toISOString(),
    ...(durationMs === undefined ? {} : { durationMs }),
  };
}

describe("stats", () => {
  it("buckets by minute with failures and mean latency", () => {
    const items = [inv(-30_000, "succeeded", 10), inv(-20_000, "failed", 30), inv(-90_000, "succeeded", 5), inv(-10 * 60_000, "succeeded", 1)];
    const b = bucketize(items, T0, 60_000, 3);
    expect(b.map((x) => x.total)).toEqual([0, 1, 2]);
    expect(b.map((x) => x.failed)).toEqual([0, 0, 1]);
    expect(b[2]?.meanMs).toBe(20);
    expect(b[0]?.meanMs).toBeUndefined();
  });

  it("summarizes error rate and percentiles over finished invocations", () => {
    const s = summarize([inv(0, "succeeded", 10), inv(0, "dead_lettered", 40), inv(0, "running"), inv(0, "succeeded", 20)]);
    expect(s.total).toBe(4);
    expect(s.failed).toBe(1);
    expect(s.errorRate).toBeCloseTo(1 / 3);
    expect(s.p50Ms).toBe(20);
    expect(s.p95Ms).toBe(40);
    expect(summarize([]).errorRate).toBeUndefined();
  });

  it("takes nearest-rank percentiles", () => {
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(percentile([1, 2, 3, 4], 1)).toBe(4);
    expect(percentile([], 0.5)).toBeUndefined();
  });
});
