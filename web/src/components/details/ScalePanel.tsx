import type { FunctionView } from "../../api/types";
import { timeAgo } from "../../lib/format";
import { boundsOf, desiredOf, policyOf } from "../../lib/scale";
import { Card } from "../ui";

/** An http-mode function's instances (ready/desired), its scale bounds, and the scaler's last decision. */
export function ScalePanel({ fn, now }: { fn: FunctionView; now: number }) {
  const sc = fn.scale;
  if (fn.invocation.mode !== "http" || !sc) return null;
  const last = fn.status.lastScale;
  return (
    <Card title="Scaling">
      <dl className="grid grid-cols-1 gap-x-4 gap-y-2 text-sm sm:grid-cols-3">
        <div>
          <dt className="text-slate-400">Instances (ready/desired)</dt>
          <dd data-testid="scale-instances" className="tabular-nums">{`${fn.status.readyReplicas}/${desiredOf(fn)}`}</dd>
        </div>
        <div>
          <dt className="text-slate-400">Bounds</dt>
          <dd data-testid="scale-bounds">{boundsOf(sc)}</dd>
          <dd data-testid="scale-policy" className="text-xs text-slate-400">
            {policyOf(sc)}
          </dd>
        </div>
        <div>
          <dt className="text-slate-400">Last scaling</dt>
          {last ? (
            <>
              <dd data-testid="scale-last" className="tabular-nums">{`${last.from} → ${last.to}`}</dd>
              <dd data-testid="scale-reason">{last.reason}</dd>
              <dd className="text-xs text-slate-400">
                <time data-testid="scale-at" dateTime={last.at} title={last.at}>
                  {timeAgo(last.at, now)}
                </time>
              </dd>
            </>
          ) : (
            <dd data-testid="scale-last" className="text-slate-400">
              none yet
            </dd>
          )}
        </div>
      </dl>
    </Card>
  );
}
