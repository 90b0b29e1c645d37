import { useCallback, useRef, useState } from "react";
import type { LogLine } from "../../api/types";
import type { SseMessage } from "../../api/sse";
import { useSse } from "../../api/useSse";

const KEEP = 2000;
const TAIL = 200;

export interface LogEntry extends LogLine {
  seq: string;
}

/** A log event's data, if it has the fields the panel shows. */
function parseLogLine(data: string): LogLine | undefined {
  try {
    const v = JSON.parse(data) as Partial<Record<keyof LogLine, unknown>> | null;
    if (typeof v?.line !== "string" || typeof v.instance !== "string" || typeof v.time !== "string") return undefined;
    return v as LogLine;
  } catch {
    return undefined;
  }
}

/**
 * A function's log lines, live. Paused, new lines are held back (and
 * counted) rather than dropped, and shown on resume.
 */
export function useLogStream(name: string) {
  const [lines, setLines] = useState<LogEntry[]>([]);
  // Held lines live in a ref: moving them on resume must not happen inside a state updater.
  const held = useRef<LogEntry[]>([]);
  const [heldCount, setHeldCount] = useState(0);
  const [paused, setPausedState] = useState(false);
  const pausedRef = useRef(false);
  // The highest stream sequence shown: a reconnection replays the tail, which is skipped.
  const lastSeq = useRef(-1);

  const onMessage = useCallback((m: SseMessage) => {
    if (m.event !== "log") return;
    const line = parseLogLine(m.data);
    if (!line) return;
    // The id is the log stream's sequence, increasing.
    const n = Number(m.id);
    if (Number.isSafeInteger(n)) {
      if (n <= lastSeq.current) return;
      lastSeq.current = n;
    }
    const entry = { ...line, seq: m.id ?? `${line.time}-${line.instance}-${line.line}` };
    if (pausedRef.current) {
      held.current = [...held.current, entry].slice(-KEEP);
      setHeldCount(held.current.length);
    } else {
      setLines((l) => [...l, entry].slice(-KEEP));
    }
  }, []);

  const { state, error } = useSse(`logs:${name}`, {
    url: () => `/v1/functions/${encodeURIComponent(name)}/logs?tail=${TAIL}&follow=true`,
    onMessage,
  });

  const setPaused = useCallback((p: boolean) => {
    pausedRef.current = p;
    setPausedState(p);
    if (!p && held.current.length > 0) {
      const h = held.current;
      held.current = [];
      setHeldCount(0);
      setLines((l) => [...l, ...h].slice(-KEEP));
    }
  }, []);

  const clear = useCallback(() => {
    setLines([]);
    held.current = [];
    setHeldCount(0);
  }, []);

  return { state, error, lines, heldCount, paused, setPaused, clear };
}
