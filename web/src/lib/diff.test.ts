import { describe, expect, it } from "vitest";
import { diffJson, diffLines, diffStats, prettyJson, splitLines, type DiffLine } from "./diff";

const render = (d: DiffLine[]) => d.map((l) => `${l.kind === "same" ? " " : l.kind === "add" ? "+" : "-"}${l.text}`);
const side = (d: DiffLine[], drop: "add" | "del") => d.filter((l) => l.kind !== drop).map((l) => l.text);

describe("diffLines", () => {
  it("keeps equal texts as they are, numbered on both sides", () => {
    const d = diffLines(["a", "b"], ["a", "b"]);
    expect(d).toEqual([
      { kind: "same", text: "a", a: 1, b: 1 },
      { kind: "same", text: "b", a: 2, b: 2 },
    ]);
  });

  it("handles empty sides", () => {
    expect(diffLines([], [])).toEqual([]);
    expect(render(diffLines([], ["x", "y"]))).toEqual(["+x", "+y"]);
    expect(render(diffLines(["x", "y"], []))).toEqual(["-x", "-y"]);
  });

  it("shows a changed line as removed then added, in place", () => {
    const d = diffLines(["{", '  "timeout": "20s"', "}"], ["{", '  "timeout": "25s"', "}"]);
    expect(render(d)).toEqual([" {", '-  "timeout": "20s"', '+  "timeout": "25s"', " }"]);
    expect(d[1]).toEqual({ kind: "del", text: '  "timeout": "20s"', a: 2 });
    expect(d[2]).toEqual({ kind: "add", text: '  "timeout": "25s"', b: 2 });
    expect(d[3]).toEqual({ kind: "same", text: "}", a: 3, b: 3 });
  });

  it("finds a longest common subsequence, not just the common ends", () => {
    const a = ["a", "b", "c", "d", "e", "f"];
    const b = ["a", "x", "c", "d", "y", "f", "g"];
    const d = diffLines(a, b);
    expect(render(d)).toEqual([" a", "-b", "+x", " c", " d", "-e", "+y", " f", "+g"]);
    expect(d.filter((l) => l.kind === "same")).toHaveLength(4);
  });

  it("always rebuilds both sides from the diff", () => {
    const cases: [string[], string[]][] = [
      [["1", "2", "3"], ["3", "2", "1"]],
      [["a", "a", "b"], ["b", "a", "a"]],
      [["x"], ["y"]],
      [["p", "q", "r", "s"], ["q", "s", "t"]],
    ];
    for (const [a, b] of cases) {
      const d = diffLines(a, b);
      expect(side(d, "add")).toEqual(a);
      expect(side(d, "del")).toEqual(b);
    }
  });

  it("counts additions and removals", () => {
    expect(diffStats(diffLines(["a", "b"], ["a", "c", "d"]))).toEqual({ added: 2, removed: 1 });
  });
});

describe("splitLines", () => {
  it("has no lines for empty text and ignores a final newline", () => {
    expect(splitLines("")).toEqual([]);
    expect(splitLines("a\nb\n")).toEqual(["a", "b"]);
    expect(splitLines("a\r\nb")).toEqual(["a", "b"]);
  });
});

describe("diffJson", () => {
  it("compares pretty JSON with sorted keys, so key order alone is no change", () => {
    expect(prettyJson({ b: 1, a: { d: 2, c: 3 } })).toBe('{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}');
    expect(diffStats(diffJson({ a: 1, b: 2 }, { b: 2, a: 1 }))).toEqual({ added: 0, removed: 0 });
  });

  it("shows a spec's changed field and an added secret", () => {
    const d = diffJson(
      { name: "shout", command: ["cat"], invocation: { mode: "job", timeout: "20s" } },
      { name: "shout", command: ["cat"], invocation: { mode: "job", timeout: "25s" }, secrets: ["api-key"] },
    );
    const changed = d.filter((l) => l.kind !== "same").map((l) => `${l.kind} ${l.text.trim()}`);
    expect(changed).toEqual(['del "timeout": "20s"', 'add "timeout": "25s"', 'del "name": "shout"', 'add "name": "shout",', 'add "secrets": [', 'add "api-key"', "add ]"]);
  });
});
