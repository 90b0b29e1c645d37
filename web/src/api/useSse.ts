import { useEffect, useEffectEvent, useState } from "react";
import { followSse, type SseMessage, type StreamState } from "./sse";
import { errorMessage } from "./errors";

export interface SseStatus {
  state: StreamState;
  /** Why the stream stopped or is retrying, while it is. */
  error: string | undefined;
}

/**
 * Follows an SSE endpoint while mounted and key is not null; a new key
 * reconnects. The latest url and onMessage are always used, without
 * reconnecting when only they change.
 */
export function useSse(
  key: string | null,
  opts: { url: (lastEventId: string | undefined) => string; resume?: boolean; onMessage: (m: SseMessage) => void },
): SseStatus {
  const [status, setStatus] = useState<SseStatus>({ state: "stopped", error: undefined });
  const url = useEffectEvent(opts.url);
  const onMessage = useEffectEvent(opts.onMessage);
  const resume = opts.resume ?? false;

  useEffect(() => {
    if (key === null) {
      setStatus({ state: "stopped", error: undefined });
      return;
    }
    const ctl = new AbortController();
    void followSse(ctl.signal, {
      url: (id) => url(id),
      resume,
      onMessage: (m) => onMessage(m),
      onState: (s, err) => {
        if (!ctl.signal.aborted) setStatus({ state: s, error: err === undefined ? undefined : errorMessage(err) });
      },
    });
    return () => ctl.abort();
  }, [key, resume]);

  return status;
}
