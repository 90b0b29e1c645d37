import type { StreamState } from "../api/sse";

/**
 * Tells whether updates arrive live. `polling`: the page polls while the
 * stream is down, so it says so; `paused`: the user holds the updates back.
 */
export function LiveIndicator({ state, polling = false, paused = false }: { state: StreamState; polling?: boolean; paused?: boolean }) {
  const text = paused ? "Paused" : describe(state, polling);
  return (
    <span role="status" className="inline-flex items-center gap-1.5 text-xs text-slate-400">
      <span aria-hidden className={`size-2 rounded-full ${state === "open" && !paused ? "bg-emerald-400" : "bg-amber-400"}`} />
      {text}
    </span>
  );
}

function describe(state: StreamState, polling: boolean): string {
  switch (state) {
    case "open":
      return "Live";
    case "connecting":
      return "Connecting…";
    case "retrying":
      return polling ? "Reconnecting (polling meanwhile)" : "Reconnecting…";
    case "stopped":
      return polling ? "Polling" : "Not connected";
  }
}
