import { Link } from "react-router";
import type { FunctionView } from "../api/types";
import { timeAgo } from "../lib/format";
import { PhaseBadge } from "./PhaseBadge";
import { Replicas } from "./Replicas";

/** The tenant's functions as a real table: one row each, sortable by reading order. */
export function FunctionsTable({ functions, now }: { functions: FunctionView[]; now: number }) {
  return (
    <div className="overflow-x-auto rounded-lg border border-slate-800">
      <table className="w-full text-left text-sm">
        <caption className="sr-only">Functions of this tenant</caption>
        <thead className="bg-slate-900 text-xs uppercase tracking-wide text-slate-400">
          <tr>
            <th scope="col" className="px-4 py-2">Name</th>
            <th scope="col" className="px-4 py-2">Phase</th>
            <th scope="col" className="px-4 py-2">Replicas (ready/desired)</th>
            <th scope="col" className="px-4 py-2">Mode</th>
            <th scope="col" className="px-4 py-2">Image</th>
            <th scope="col" className="px-4 py-2">Last update</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-800">
          {functions.map((f) => {
            const updated = latest(f.updatedAt, f.status.updatedAt);
            return (
              <tr key={f.name} data-function={f.name} className="hover:bg-slate-900/60">
                <th scope="row" className="px-4 py-2 font-medium">
                  <Link to={`/functions/${f.name}`} className="rounded text-sky-300 hover:underline">
                    {f.name}
                  </Link>
                </th>
                <td className="px-4 py-2">
                  <PhaseBadge phase={f.status.phase} />
                  {f.status.phase === "Failed" && f.status.message && <p className="mt-1 max-w-xs truncate text-xs text-rose-300" title={f.status.message}>{f.status.message}</p>}
                </td>
                <td className="px-4 py-2 tabular-nums">
                  <Replicas fn={f} />
                </td>
                <td className="px-4 py-2">{f.invocation.mode ?? "job"}</td>
                <td className="max-w-[16rem] truncate px-4 py-2 font-mono text-xs text-slate-300" title={f.image}>{f.image ?? "—"}</td>
                <td className="px-4 py-2 text-slate-400">
                  <time dateTime={updated}>{timeAgo(updated, now)}</time>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** The later of the spec's and the status's update times. */
function latest(a: string, b: string | undefined): string {
  if (!b) return a;
  return Date.parse(b) > Date.parse(a) ? b : a;
}
