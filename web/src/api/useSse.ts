import { useEffect, useRef, useState } from "react";
import { followSse, type SseMessage, type StreamState } from "./sse";

/**
 * Follows an SSE endpoint while mounted and enabled. The latest onMessage is
 * always called, without reconnecting when only the callback changes.
 */
export function useSse(
  key: string | null,
  opts: { url: (lastEventId: string | undefined) => string; resume?: boolean; onMessage: (m: SseMessage) => void },
): StreamState {
  const [state, setState] = useState<StreamState>("stopped");
  const ref = useRef(opts);
  ref.current = opts;

  useEffect(() => {
    if (key === null) {
      setState("stopped");
      return;
    }
    const ctl = new AbortController();
    void followSse(ctl.signal, {
      url: (id) => ref.current.url(id),
      resume: ref.current.resume ?? false,
      onMessage: (m) => ref.current.onMessage(m),
      onState: (s) => {
        if (!ctl.signal.aborted) setState(s);
      },
    });
    return () => ctl.abort();
  }, [key]);

  return state;
}
