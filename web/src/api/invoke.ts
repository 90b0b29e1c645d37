import { api } from "./client";
import { toApiError } from "./errors";

export interface InvokeResult {
  /** HTTP status of the answer. */
  status: number;
  /** Wall time in the browser, request to full body. */
  elapsedMs: number;
  /** The invocation's own run time, as the gateway reports it (sync). */
  durationMs: number | undefined;
  invocationId: string | undefined;
  exitCode: string | undefined;
  /** Sync: the output (or the error message); async: the queued record. */
  body: string;
  ok: boolean;
  /** Async: the invocation to follow. */
  asyncId: string | undefined;
}

/** Invokes a function with a text payload, sync or async; the signal abandons the request. */
export async function invokeFunction(name: string, payload: string, async: boolean, signal?: AbortSignal): Promise<InvokeResult> {
  const started = performance.now();
  const r = await api.POST("/v1/functions/{name}:invoke", {
    params: { path: { name }, query: async ? { async: true } : {} },
    body: payload,
    // The payload goes as is, never JSON-encoded.
    bodySerializer: (b: unknown) => String(b),
    headers: { "Content-Type": "text/plain; charset=utf-8" },
    parseAs: "text",
    signal,
  });
  const elapsedMs = Math.round(performance.now() - started);
  const h = r.response.headers;
  const dur = h.get("X-Duration-Ms");
  const common = {
    status: r.response.status,
    elapsedMs,
    durationMs: dur === null ? undefined : Number(dur),
    invocationId: h.get("X-Invocation-Id") ?? undefined,
    exitCode: h.get("X-Exit-Code") ?? undefined,
  };
  if (r.error !== undefined) {
    const err = toApiError(r.response.status, r.error);
    return { ...common, ok: false, body: `${err.code}: ${err.message}`, asyncId: undefined };
  }
  const body = typeof r.data === "string" ? r.data : "";
  if (async) {
    let id = common.invocationId;
    try {
      id = (JSON.parse(body) as { id?: string }).id ?? id;
    } catch {
      // the header already names it
    }
    return { ...common, ok: true, body, asyncId: id };
  }
  return { ...common, ok: true, body, asyncId: undefined };
}
