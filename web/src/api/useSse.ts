import { useEffect, useEffectEvent, useState } from "react";
import { followSse, type SseMessage, type StreamState } from "./sse";

/**
 * Follows an SSE endpoint while mounted and key is not null; a new key
 * reconnects. The latest url and onMessage are always used, without
 * reconnecting when only they change.
 */
export function useSse(
  key: string | null,
  opts: { url: (lastEventId: string | undefined) => string; resume?: boolean; onMessage: (m: SseMessage) => void },
): StreamState {
  const [state, setState] = useState<StreamState>("stopped");
  const url = useEffectEvent(opts.url);
  const onMessage = useEffectEvent(opts.onMessage);
  const resume = opts.resume ?? false;

  useEffect(() => {
    if (key === null) {
      setState("stopped");
      return;
    }
    const ctl = new AbortController();
    void followSse(ctl.signal, {
      url: (id) => url(id),
      resume,
      onMessage: (m) => onMessage(m),
      onState: (s) => {
        if (!ctl.signal.aborted) setState(s);
      },
    });
    return () => ctl.abort();
  }, [key, resume]);

  return state;
}
