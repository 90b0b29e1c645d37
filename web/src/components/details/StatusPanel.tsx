import { CheckCircle2, CircleDashed, XCircle } from "lucide-react";
import type { FunctionView } from "../../api/types";
import { timeAgo } from "../../lib/format";
import { joinCommandLine } from "../../lib/argv";
import { PhaseBadge } from "../PhaseBadge";
import { Replicas } from "../Replicas";
import { desiredOf } from "../../lib/scale";
import { Card } from "../ui";

interface Condition {
  name: string;
  ok: boolean | undefined;
  detail: string;
}

/** Conditions in the Kubernetes manner, derived from the status the API reports. */
function conditionsOf(f: FunctionView): Condition[] {
  const s = f.status;
  const desired = desiredOf(f);
  const applied = s.observedGeneration >= f.generation;
  return [
    { name: "Accepted", ok: true, detail: `generation ${f.generation} stored` },
    {
      name: "Applied",
      ok: s.phase === "Failed" ? false : applied ? true : undefined,
      detail: applied ? `generation ${s.observedGeneration} observed` : `waiting for the deployer (observed ${s.observedGeneration})`,
    },
    {
      name: "Ready",
      ok: s.phase === "Ready" ? true : s.phase === "Failed" ? false : undefined,
      detail: s.phase === "Ready" ? "running as specified" : (s.message ?? s.phase),
    },
    {
      name: "Instances",
      ok: f.invocation.mode !== "http" ? true : s.readyReplicas >= desired,
      detail:
        f.invocation.mode !== "http"
          ? "job mode: one process per invocation"
          : desired === 0
            ? "scaled to zero: the next request wakes the function"
            : `${s.readyReplicas} of ${desired} ready`,
    },
  ];
}

export function StatusPanel({ fn, now }: { fn: FunctionView; now: number }) {
  const s = fn.status;
  return (
    <Card title="Status">
      <dl className="grid grid-cols-2 gap-x-4 gap-y-2 text-sm sm:grid-cols-4">
        <div>
          <dt className="text-slate-400">Phase</dt>
          <dd>
            <PhaseBadge phase={s.phase} />
          </dd>
        </div>
        <div>
          <dt className="text-slate-400">Ready / desired</dt>
          <dd className="tabular-nums">
            <Replicas fn={fn} />
          </dd>
        </div>
        <div>
          <dt className="text-slate-400">Mode</dt>
          <dd>{fn.invocation.mode ?? "job"}</dd>
        </div>
        <div>
          <dt className="text-slate-400">Timeout</dt>
          <dd data-testid="timeout">{String(fn.invocation.timeout ?? "30s")}</dd>
        </div>
        <div>
          <dt className="text-slate-400">Generation</dt>
          <dd className="tabular-nums">{fn.generation}</dd>
        </div>
        <div>
          <dt className="text-slate-400">Last update</dt>
          <dd>{timeAgo(s.updatedAt ?? fn.updatedAt, now)}</dd>
        </div>
        <div className="col-span-2 sm:col-span-4">
          <dt className="text-slate-400">Command</dt>
          <dd className="font-mono text-xs break-all">{fn.command ? joinCommandLine(fn.command) : "—"}</dd>
        </div>
        {fn.image && (
          <div className="col-span-2 sm:col-span-4">
            <dt className="text-slate-400">Image</dt>
            <dd className="font-mono text-xs break-all">{fn.image}</dd>
          </div>
        )}
        {s.message && (
          <div className="col-span-2 sm:col-span-4">
            <dt className="text-slate-400">Message</dt>
            <dd className="text-rose-300">{s.message}</dd>
          </div>
        )}
      </dl>
      <h3 className="mt-4 mb-2 text-xs font-semibold uppercase tracking-wide text-slate-400">Conditions</h3>
      <ul aria-label="Conditions" className="space-y-1 text-sm">
        {conditionsOf(fn).map((c) => (
          <li key={c.name} className="flex items-start gap-2">
            {c.ok === true ? (
              <CheckCircle2 role="img" aria-label="true" className="mt-0.5 size-4 text-emerald-400" />
            ) : c.ok === false ? (
              <XCircle role="img" aria-label="false" className="mt-0.5 size-4 text-rose-400" />
            ) : (
              <CircleDashed role="img" aria-label="unknown" className="mt-0.5 size-4 text-amber-400" />
            )}
            <span className="font-medium">{c.name}</span>
            <span className="text-slate-400">{c.detail}</span>
          </li>
        ))}
      </ul>
    </Card>
  );
}
