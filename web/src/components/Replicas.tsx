import type { FunctionView } from "../api/types";

/** Ready/desired replicas. http mode keeps instances running; job mode runs one per invocation, so "ready" does not apply. */
export function Replicas({ fn }: { fn: FunctionView }) {
  const desired = fn.replicas ?? 1;
  if (fn.invocation.mode === "http") return <>{`${fn.status.readyReplicas}/${desired}`}</>;
  return <span title="job mode: one process per invocation, up to this many at once">{`–/${desired}`}</span>;
}
