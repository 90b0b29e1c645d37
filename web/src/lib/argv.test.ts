import { describe, expect, it } from "vitest";
import { joinCommandLine, splitCommandLine } from "./argv";

describe("splitCommandLine", () => {
  it.each([
    ["tr a-z A-Z", ["tr", "a-z", "A-Z"]],
    ["  cat  ", ["cat"]],
    ["sh -c 'echo hi >&2; cat'", ["sh", "-c", "echo hi >&2; cat"]],
    ['echo "a \\"b\\" c"', ["echo", 'a "b" c']],
    ["echo a\\ b", ["echo", "a b"]],
    ["echo '' x", ["echo", "", "x"]],
    ['printf "%s\\n" $HOME', ["printf", "%s\\n", "$HOME"]],
    ["", []],
  ])("%j", (line, argv) => {
    expect(splitCommandLine(line)).toEqual({ ok: true, argv });
  });

  it("reports an unclosed quote", () => {
    expect(splitCommandLine("echo 'oops")).toEqual({ ok: false, error: "A single quote is not closed" });
    expect(splitCommandLine('echo "oops')).toEqual({ ok: false, error: "A double quote is not closed" });
  });

  it("round-trips through joinCommandLine", () => {
    const argv = ["sh", "-c", "echo it's here; cat", "", "a b"];
    const line = joinCommandLine(argv);
    expect(splitCommandLine(line)).toEqual({ ok: true, argv });
  });
});
