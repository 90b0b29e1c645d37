import { describe, expect, it } from "vitest";
import { checkCommand, checkEnvName, checkEnvNames, checkName, checkReplicas, checkTimeout, parseDuration } from "./validation";

describe("checkName mirrors the API's DNS-1123 label rule", () => {
  it.each(["a", "upper", "a-1", "0abc", "x".repeat(63)])("accepts %s", (n) => expect(checkName(n)).toBeUndefined());
  it.each([
    ["", "A name is required"],
    ["x".repeat(64), "At most 63 characters"],
    ["Upper", "Lower-case letters"],
    ["-a", "Lower-case letters"],
    ["a-", "Lower-case letters"],
    ["a_b", "Lower-case letters"],
    ["a.b", "Lower-case letters"],
  ])("refuses %j", (n, msg) => expect(checkName(n)).toContain(msg));
});

describe("command and image", () => {
  it("needs one of them", () => {
    expect(checkCommand([], "")).toBe("An image or a command is required");
    expect(checkCommand([], "ghcr.io/a/b:1")).toBeUndefined();
    expect(checkCommand(["cat"], "")).toBeUndefined();
  });
  it("refuses a blank program", () => expect(checkCommand([" ", "x"], "")).toMatch(/must not be blank/));
  it("bounds the arguments", () => expect(checkCommand(Array(257).fill("a"), "")).toMatch(/At most 256/));
});

describe("env, replicas, timeout", () => {
  it("checks variable names", () => {
    expect(checkEnvName("LANG")).toBeUndefined();
    expect(checkEnvName("_x1")).toBeUndefined();
    expect(checkEnvName("1X")).toBeDefined();
    expect(checkEnvName("A-B")).toBeDefined();
    expect(checkEnvNames(["A", "B", "A"])).toBe("A is set twice");
  });
  it("checks replicas from 0 to 100", () => {
    expect(checkReplicas("0")).toBeUndefined();
    expect(checkReplicas("100")).toBeUndefined();
    expect(checkReplicas("")).toBeUndefined();
    expect(checkReplicas("101")).toBe("From 0 to 100");
    expect(checkReplicas("-1")).toBe("A whole number");
    expect(checkReplicas("1.5")).toBe("A whole number");
  });
  it("reads Go durations and bare seconds", () => {
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("1m30s")).toBe(90_000);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("1.5h")).toBe(5_400_000);
    expect(parseDuration("45")).toBe(45_000);
    expect(parseDuration("0")).toBe(0);
    expect(parseDuration("30")).toBe(30_000);
    expect(parseDuration("abc")).toBeUndefined();
    expect(parseDuration("30x")).toBeUndefined();
    expect(parseDuration("s")).toBeUndefined();
  });
  it("bounds the timeout at 15m", () => {
    expect(checkTimeout("15m")).toBeUndefined();
    expect(checkTimeout("15m1s")).toBe("At most 15m");
    expect(checkTimeout("soon")).toMatch(/A duration like/);
  });
});
