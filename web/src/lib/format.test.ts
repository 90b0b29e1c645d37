import { describe, expect, it } from "vitest";
import { formatBytes, formatMs, shortId, timeAgo } from "./format";

describe("format", () => {
  it("keeps the end of a long id, where invocation ids differ", () => {
    expect(shortId("01a214949d9a0f8e1b2c3d4e5f607182")).toBe("…3d4e5f607182");
    expect(shortId("upper-7f3c")).toBe("upper-7f3c");
    expect(shortId("exactly13char")).toBe("exactly13char");
  });

  it("counts relative times against the clock it is given", () => {
    const now = Date.parse("2026-01-01T12:00:00Z");
    expect(timeAgo("2026-01-01T11:59:48Z", now)).toBe("12s ago");
    expect(timeAgo("2026-01-01T11:55:00Z", now)).toBe("5m ago");
    expect(timeAgo("2026-01-01T09:00:00Z", now)).toBe("3h ago");
    expect(timeAgo("2025-12-30T12:00:00Z", now)).toBe("2025-12-30");
    expect(timeAgo(undefined, now)).toBe("—");
  });

  it("writes durations in ms below a second", () => {
    expect(formatMs(12.4)).toBe("12 ms");
    expect(formatMs(1500)).toBe("1.50 s");
    expect(formatMs(12_000)).toBe("12.0 s");
    expect(formatMs(undefined)).toBe("—");
  });
});

describe("formatBytes", () => {
  it("shows bytes, KiB and MiB", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(2 * 1024 * 1024)).toBe("2.0 MiB");
    expect(formatBytes(undefined)).toBe("—");
  });
});
