// Server-sent events over fetch: EventSource cannot send an Authorization
// header, so the console reads the stream itself.
import { authHeaders, checkAuth } from "./client";
import { ApiError, errorFromResponse } from "./errors";

export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

/** Incremental parser of the text/event-stream format (WHATWG HTML §9.2). */
export class SseParser {
  private buf = "";
  private id: string | undefined;
  private event = "";
  private data: string[] = [];

  /** Feeds a chunk of text and returns the events it completed. */
  feed(chunk: string): SseMessage[] {
    this.buf += chunk;
    const out: SseMessage[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (!m || (m[0] === "\r" && m.index === this.buf.length - 1)) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      const msg = this.line(line);
      if (msg) out.push(msg);
    }
    return out;
  }

  private line(line: string): SseMessage | undefined {
    if (line === "") {
      if (this.data.length === 0) {
        this.event = "";
        return undefined;
      }
      const msg = { id: this.id, event: this.event || "message", data: this.data.join("\n") };
      this.event = "";
      this.data = [];
      return msg;
    }
    if (line.startsWith(":")) return undefined; // comment, e.g. keep-alive
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? "" : line.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        this.data.push(value);
        break;
      case "event":
        this.event = value;
        break;
      case "id":
        if (!value.includes("\0")) this.id = value;
        break;
    }
    return undefined;
  }
}

export interface StreamOptions {
  signal: AbortSignal;
  onOpen?: () => void;
  onMessage: (msg: SseMessage) => void;
  lastEventId?: string | undefined;
}

/**
 * Reads one SSE response until it ends or the signal aborts. Resolves when
 * the server closes the stream; rejects on an error answer or network error.
 */
export async function readSse(url: string, opts: StreamOptions): Promise<void> {
  const headers = authHeaders({ Accept: "text/event-stream" });
  if (opts.lastEventId) headers.set("Last-Event-ID", opts.lastEventId);
  const res = await fetch(url, { headers, signal: opts.signal, cache: "no-store" });
  if (!res.ok || !res.body) {
    await checkAuth(res);
    throw await errorFromResponse(res);
  }
  opts.onOpen?.();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      for (const msg of parser.feed(value)) opts.onMessage(msg);
    }
  } finally {
    reader.releaseLock();
  }
}

export type StreamState = "connecting" | "open" | "retrying" | "stopped";

export interface FollowOptions {
  /** Called on each event. */
  onMessage: (msg: SseMessage) => void;
  onState?: (s: StreamState, err?: unknown) => void;
  /** The URL of each (re)connection, given the last event id seen. */
  url: (lastEventId: string | undefined) => string;
  /** Send Last-Event-ID on reconnect (the events stream resumes with it). */
  resume?: boolean;
}

const MIN_RETRY_MS = 1000;
const MAX_RETRY_MS = 15000;

/**
 * Follows a stream until the signal aborts: reconnects with a doubling
 * delay (bounded) after an error, and stops for good on a 4xx, which a
 * retry would not fix (a 401 has already ended the session).
 */
export async function followSse(signal: AbortSignal, opts: FollowOptions): Promise<void> {
  let last: string | undefined;
  let delay = MIN_RETRY_MS;
  while (!signal.aborted) {
    opts.onState?.("connecting");
    let failure: unknown;
    try {
      await readSse(opts.url(last), {
        signal,
        lastEventId: opts.resume ? last : undefined,
        onOpen: () => {
          delay = MIN_RETRY_MS;
          opts.onState?.("open");
        },
        onMessage: (m) => {
          if (m.id) last = m.id;
          opts.onMessage(m);
        },
      });
    } catch (err) {
      if (signal.aborted) break;
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
        opts.onState?.("stopped", err);
        return;
      }
      failure = err;
    }
    if (signal.aborted) break;
    // An error, or the server ended the stream: either way, again after a while.
    opts.onState?.("retrying", failure);
    await sleep(delay, signal);
    delay = Math.min(delay * 2, MAX_RETRY_MS);
  }
  opts.onState?.("stopped");
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
