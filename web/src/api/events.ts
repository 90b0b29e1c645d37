import { useCallback, useEffect, useRef, useState } from "react";
import { useQueryClient, type QueryKey } from "@tanstack/react-query";
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

function parseEvent(m: SseMessage): LifecycleEvent | undefined {
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
function functionOf(e: LifecycleEvent): string {
  const d = e.data;
  if (typeof d.name === "string") return d.name;
  if (typeof d.function === "string") return d.function;
  return e.subject;
}

const INVALIDATE_EVERY_MS = 250;

/**
 * Invalidates query keys at most once per short interval: a replay or a
 * burst of events (one invocation makes three) must not become one refetch
 * per event.
 */
function useBatchedInvalidate(): (key: QueryKey) => void {
  const qc = useQueryClient();
  const pending = useRef(new Map<string, QueryKey>());
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(
    () => () => {
      clearTimeout(timer.current);
      timer.current = undefined;
      pending.current.clear();
    },
    [],
  );
  return useCallback(
    (key: QueryKey) => {
      pending.current.set(JSON.stringify(key), key);
      timer.current ??= setTimeout(() => {
        timer.current = undefined;
        const keys = [...pending.current.values()];
        pending.current.clear();
        for (const k of keys) void qc.invalidateQueries({ queryKey: k, exact: true });
      }, INVALIDATE_EVERY_MS);
    },
    [qc],
  );
}

/** Dashboard: refetch the list whenever a function changes. */
export function useFunctionListEvents(): StreamState {
  const invalidate = useBatchedInvalidate();
  return useSse("all", {
    url: () => "/v1/events",
    resume: true,
    onMessage: (m) => {
      const e = parseEvent(m);
      if (e?.type.startsWith("io.eventflow.function.")) {
        invalidate(keys.functions);
        invalidate(keys.fn(functionOf(e)));
      }
    },
  }).state;
}

const TIMELINE_MAX = 200;

/**
 * Details page: one function's events, replayed from the start of the stream
 * (since=0) so the timeline has its history, then live; each one refreshes
 * the function or its invocations.
 */
export function useFunctionEvents(name: string): { state: StreamState; events: LifecycleEvent[] } {
  const invalidate = useBatchedInvalidate();
  const [events, setEvents] = useState<LifecycleEvent[]>([]);
  const onMessage = useCallback(
    (m: SseMessage) => {
      const e = parseEvent(m);
      if (!e) return;
      setEvents((prev) => (prev.some((p) => p.seq === e.seq && e.seq !== "") ? prev : [e, ...prev].slice(0, TIMELINE_MAX)));
      if (e.type.startsWith("io.eventflow.function.")) {
        invalidate(keys.fn(name));
        invalidate(keys.functions);
        // An update (a rollback, a secret's rotation) is a new revision.
        invalidate(keys.revisions(name));
      } else {
        invalidate(keys.invocations(name));
        invalidate(keys.deadLetters(name));
        // A trigger's outcome changes its state in status.triggers.
        if (e.type.startsWith("io.eventflow.trigger.")) invalidate(keys.fn(name));
      }
    },
    [invalidate, name],
  );
  const { state } = useSse(`fn:${name}`, {
    url: (last) => `/v1/events?function=${encodeURIComponent(name)}&since=${last ?? "0"}`,
    resume: false,
    onMessage,
  });
  return { state, events };
}
