import type { LifecycleEvent } from "../../api/events";
import { clockTime, shortId } from "../../lib/format";
import { Card } from "../ui";

const TONE: Record<string, string> = {
  ready: "bg-emerald-400",
  succeeded: "bg-emerald-400",
  failed: "bg-rose-400",
  dead_lettered: "bg-rose-400",
  deleted: "bg-slate-400",
  retrying: "bg-amber-400",
  deploying: "bg-amber-400",
  scaled: "bg-sky-400",
};

function describe(e: LifecycleEvent): string {
  const d = e.data;
  const parts: string[] = [];
  if (typeof d.generation === "number") parts.push(`generation ${d.generation}`);
  if (typeof d.readyReplicas === "number") parts.push(`${d.readyReplicas} ready`);
  if (typeof d.from === "number" && typeof d.to === "number") parts.push(`${d.from} → ${d.to} instances`);
  if (typeof d.reason === "string" && d.reason) parts.push(d.reason);
  if (typeof d.id === "string") parts.push(`invocation ${shortId(d.id)}`);
  if (typeof d.durationMs === "number") parts.push(`${d.durationMs} ms`);
  if (typeof d.message === "string" && d.message) parts.push(d.message);
  if (typeof d.error === "string" && d.error) parts.push(d.error);
  return parts.join(" · ");
}

/** The function's lifecycle events, newest first. */
export function EventsTimeline({ events, since }: { events: LifecycleEvent[]; since: string }) {
  // Events of an earlier function of the same name are left out.
  const from = Date.parse(since) - 1000;
  const shown = events.filter((e) => !(Date.parse(e.time) < from));
  return (
    <Card title="Events">
      {shown.length === 0 ? (
        <p className="text-sm text-slate-400">No events yet.</p>
      ) : (
        <ol aria-label="Lifecycle events" className="max-h-80 space-y-2 overflow-y-auto text-sm">
          {shown.map((e) => {
            const kind = e.type.split(".").pop() ?? e.type;
            return (
              <li key={e.seq || `${e.type}-${e.time}`} className="flex gap-3">
                <span aria-hidden className={`mt-1.5 size-2 shrink-0 rounded-full ${TONE[kind] ?? "bg-sky-400"}`} />
                <div className="min-w-0">
                  <p>
                    <span className="font-medium">{e.type.replace("io.eventflow.", "")}</span>{" "}
                    <time dateTime={e.time} className="text-xs text-slate-400">
                      {clockTime(e.time)}
                    </time>
                  </p>
                  <p className="truncate text-xs text-slate-400">{describe(e)}</p>
                </div>
              </li>
            );
          })}
        </ol>
      )}
    </Card>
  );
}
