import type { StreamState } from "../api/sse";

const TEXT: Record<StreamState, string> = {
  open: "Live",
  connecting: "Connecting…",
  retrying: "Reconnecting (polling meanwhile)",
  stopped: "Polling",
};

/** Tells whether updates arrive as events or by polling. */
export function LiveIndicator({ state }: { state: StreamState }) {
  return (
    <span role="status" className="inline-flex items-center gap-1.5 text-xs text-slate-400">
      <span aria-hidden className={`size-2 rounded-full ${state === "open" ? "bg-emerald-400" : "bg-amber-400"}`} />
      {TEXT[state]}
    </span>
  );
}
