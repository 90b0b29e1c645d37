import type { InvocationRecord, InvocationStatus } from "../../api/types";
import { formatMs, shortId, timeAgo } from "../../lib/format";
import { ScrollTable } from "../ui";

const TONE: Record<InvocationStatus, string> = {
  queued: "text-slate-300",
  running: "text-sky-300",
  retrying: "text-amber-300",
  succeeded: "text-emerald-300",
  failed: "text-rose-300",
  dead_lettered: "text-rose-300",
};

/** The function's invocations, newest first. */
export function HistoryTable({ items, now }: { items: InvocationRecord[]; now: number }) {
  if (items.length === 0) return <p className="text-sm text-slate-400">No invocations yet.</p>;
  return (
    <ScrollTable caption="Invocation history, newest first" columns={["Invocation", "Status", "Kind", "Attempts", "Started", "Duration", "Error"]}>
      {items.map((i) => (
        <tr key={i.id} data-invocation={i.id}>
          <th scope="row" className="px-2 py-1.5 font-mono text-xs font-normal" title={i.id}>
            {shortId(i.id)}
          </th>
          <td className={`px-2 py-1.5 ${TONE[i.status]}`}>{i.status}</td>
          <td className="px-2 py-1.5">{i.async ? "async" : "sync"}</td>
          <td className="px-2 py-1.5 tabular-nums">{i.attempts}</td>
          <td className="px-2 py-1.5 text-slate-400">
            <time dateTime={i.startedAt ?? i.createdAt}>{timeAgo(i.startedAt ?? i.createdAt, now)}</time>
          </td>
          <td className="px-2 py-1.5 tabular-nums">{formatMs(i.durationMs)}</td>
          <td className="max-w-[14rem] truncate px-2 py-1.5 text-rose-300" title={i.error}>
            {i.error ?? ""}
          </td>
        </tr>
      ))}
    </ScrollTable>
  );
}
