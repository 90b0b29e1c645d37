import { useCallback, useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { keys } from "./queries";
import type { SseMessage, StreamState } from "./sse";
import { useSse } from "./useSse";

/** A lifecycle event as the events stream sends it (CloudEvents 1.0, structured). */
export interface LifecycleEvent {
  /** The stream sequence (SSE id), for ordering and keys. */
  seq: string;
  type: string;
  time: string;
  subject: string;
  data: Record<string, unknown>;
}

export function parseEvent(m: SseMessage): LifecycleEvent | undefined {
  try {
    const ce = JSON.parse(m.data) as { type?: unknown; time?: unknown; subject?: unknown; data?: unknown };
    if (typeof ce.type !== "string") return undefined;
    return {
      seq: m.id ?? "",
      type: ce.type,
      time: typeof ce.time === "string" ? ce.time : "",
      subject: typeof ce.subject === "string" ? ce.subject : "",
      data: typeof ce.data === "object" && ce.data !== null ? (ce.data as Record<string, unknown>) : {},
    };
  } catch {
    return undefined;
  }
}

/** The function an event is about: the CloudEvents subject, or data.name / data.function. */
export function functionOf(e: LifecycleEvent): string {
  const d = e.data;
  if (typeof d.name === "string") return d.name;
  if (typeof d.function === "string") return d.function;
  return e.subject;
}

/** Dashboard: refetch the list whenever a function changes. */
export function useFunctionListEvents(): StreamState {
  const qc = useQueryClient();
  return useSse("all", {
    url: () => "/v1/events",
    resume: true,
    onMessage: (m) => {
      const e = parseEvent(m);
      if (e?.type.startsWith("io.eventflow.function.")) {
        void qc.invalidateQueries({ queryKey: keys.functions, exact: true });
        void qc.invalidateQueries({ queryKey: keys.fn(functionOf(e)), exact: true });
      }
    },
  });
}

const TIMELINE_MAX = 200;

/**
 * Details page: one function's events, replayed from the start of the stream
 * (since=0) so the timeline has its history, then live; each one refreshes
 * the function or its invocations.
 */
export function useFunctionEvents(name: string): { state: StreamState; events: LifecycleEvent[] } {
  const qc = useQueryClient();
  const [events, setEvents] = useState<LifecycleEvent[]>([]);
  const onMessage = useCallback(
    (m: SseMessage) => {
      const e = parseEvent(m);
      if (!e) return;
      setEvents((prev) => (prev.some((p) => p.seq === e.seq && e.seq !== "") ? prev : [e, ...prev].slice(0, TIMELINE_MAX)));
      if (e.type.startsWith("io.eventflow.function.")) {
        void qc.invalidateQueries({ queryKey: keys.fn(name), exact: true });
        void qc.invalidateQueries({ queryKey: keys.functions, exact: true });
      } else {
        void qc.invalidateQueries({ queryKey: keys.invocations(name), exact: true });
      }
    },
    [qc, name],
  );
  const state = useSse(`fn:${name}`, {
    url: (last) => `/v1/events?function=${encodeURIComponent(name)}&since=${last ?? "0"}`,
    resume: false,
    onMessage,
  });
  return { state, events };
}
