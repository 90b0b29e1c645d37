// A stand-in for the gateway in component tests: globalThis.fetch answers
// from a table of handlers, and records every request.
import { vi } from "vitest";

export interface Call {
  method: string;
  path: string;
  search: string;
  headers: Headers;
  body: string;
  /** The request's abort signal: a fake stream must end with it, as a real fetch's body does. */
  signal: AbortSignal | null;
}

type Handler = (call: Call) => Response | Promise<Response>;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

export function apiError(status: number, code: string, message: string): Response {
  return json(status, { error: { code, message } });
}

/** An SSE response that sends the given chunks and stays open until the request is aborted. */
export function sse(chunks: string[], signal?: AbortSignal | null): Response {
  const { response, push } = openSse(signal);
  for (const c of chunks) push(c);
  return response;
}

/** An SSE response the test writes to with push, open until the request is aborted. */
export function openSse(signal?: AbortSignal | null): { response: Response; push: (chunk: string) => void } {
  const enc = new TextEncoder();
  let ctl: ReadableStreamDefaultController<Uint8Array> | undefined;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      ctl = c;
      const abort = () => c.error(new DOMException("aborted", "AbortError"));
      if (signal?.aborted) abort();
      else signal?.addEventListener("abort", abort);
    },
  });
  const response = new Response(stream, { status: 200, headers: { "Content-Type": "text/event-stream" } });
  return { response, push: (chunk) => ctl?.enqueue(enc.encode(chunk)) };
}

export function fakeApi(routes: Record<string, Handler>) {
  const calls: Call[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(new URL(String(input), "http://localhost"), init);
    const url = new URL(req.url);
    const signal = init?.signal ?? req.signal;
    const call: Call = { method: req.method, path: url.pathname, search: url.search, headers: req.headers, body: req.body ? await req.text() : "", signal };
    calls.push(call);
    const key = `${call.method} ${call.path}`;
    const handler = routes[key] ?? (call.path === "/v1/events" || call.path.endsWith("/logs") ? () => sse([": open\n\n"], signal) : undefined);
    if (!handler) return apiError(404, "not_found", `no fake for ${key}`);
    return handler(call);
  });
  vi.stubGlobal("fetch", fetchMock);
  return { calls, fetchMock };
}
