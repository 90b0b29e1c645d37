import { describe, expect, it } from "vitest";
import { followSse, readSse, SseParser, type SseMessage } from "./sse";
import { apiError, fakeApi, sse } from "../test/fakeApi";
import { getToken, setToken } from "../auth/session";

describe("SseParser", () => {
  it("parses events split anywhere across chunks", () => {
    const text = ": keep-alive\n\nid: 7\nevent: log\ndata: {\"a\":1}\n\nid: 8\ndata: one\ndata: two\n\n";
    for (let cut = 1; cut < text.length; cut++) {
      const p = new SseParser();
      const got = [...p.feed(text.slice(0, cut)), ...p.feed(text.slice(cut))];
      expect(got).toEqual([
        { id: "7", event: "log", data: '{"a":1}' },
        { id: "8", event: "message", data: "one\ntwo" },
      ]);
    }
  });

  it("accepts CRLF and CR line ends, and a field without a space", () => {
    const p = new SseParser();
    expect(p.feed("data:x\r\n\r\ndata: y\r\r\n")).toEqual([
      { id: undefined, event: "message", data: "x" },
      { id: undefined, event: "message", data: "y" },
    ]);
  });

  it("keeps the last id for later events and ignores unknown fields", () => {
    const p = new SseParser();
    expect(p.feed("id: 3\nretry: 10\nfoo: bar\ndata: a\n\ndata: b\n\n").map((m) => m.id)).toEqual(["3", "3"]);
  });
});

describe("readSse", () => {
  it("sends the bearer token and Last-Event-ID, and delivers events", async () => {
    setToken("tok");
    const api = fakeApi({ "GET /v1/events": (c) => sse(["id: 1\nevent: e\ndata: d\n\n"], c.signal) });
    const ctl = new AbortController();
    const got: SseMessage[] = [];
    const done = readSse("/v1/events", {
      signal: ctl.signal,
      lastEventId: "41",
      onMessage: (m) => {
        got.push(m);
        ctl.abort();
      },
    });
    await expect(done).rejects.toThrow();
    expect(got).toEqual([{ id: "1", event: "e", data: "d" }]);
    expect(api.calls[0]?.headers.get("Authorization")).toBe("Bearer tok");
    expect(api.calls[0]?.headers.get("Last-Event-ID")).toBe("41");
    expect(api.calls[0]?.headers.get("Accept")).toBe("text/event-stream");
  });

  it("ends the session on a 401", async () => {
    setToken("stale");
    fakeApi({ "GET /v1/events": () => apiError(401, "unauthenticated", "token is expired") });
    await expect(readSse("/v1/events", { signal: new AbortController().signal, onMessage: () => {} })).rejects.toThrow("token is expired");
    expect(getToken()).toBeNull();
  });
});

describe("followSse", () => {
  it("stops for good on a 4xx instead of retrying", async () => {
    const api = fakeApi({ "GET /v1/events": () => apiError(403, "forbidden", "missing scope") });
    const states: string[] = [];
    await followSse(new AbortController().signal, { url: () => "/v1/events", onMessage: () => {}, onState: (s) => states.push(s) });
    expect(states).toEqual(["connecting", "stopped"]);
    expect(api.calls).toHaveLength(1);
  });

  it("reconnects after the stream ends, resuming after the last event", async () => {
    let n = 0;
    const ctl = new AbortController();
    const api = fakeApi({
      "GET /v1/events": () => {
        n++;
        if (n === 1) return new Response("id: 5\ndata: first\n\n", { headers: { "Content-Type": "text/event-stream" } });
        ctl.abort();
        return sse([], ctl.signal);
      },
    });
    const got: string[] = [];
    const states: string[] = [];
    await followSse(ctl.signal, {
      url: (last) => `/v1/events${last ? `?since=${last}` : ""}`,
      resume: true,
      onMessage: (m) => got.push(m.data),
      onState: (s) => states.push(s),
    });
    expect(got).toEqual(["first"]);
    expect(api.calls).toHaveLength(2);
    expect(api.calls[0]?.headers.get("Last-Event-ID")).toBeNull();
    expect(api.calls[1]?.headers.get("Last-Event-ID")).toBe("5");
    expect(api.calls[1]?.search).toBe("?since=5");
    expect(states).toEqual(["connecting", "open", "retrying", "connecting", "open", "stopped"]);
  }, 10_000);
});
