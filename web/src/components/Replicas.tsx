import type { FunctionView } from "../api/types";
import { desiredOf } from "../lib/scale";

/** Ready/desired instances. http mode keeps instances running (or none, scaled to zero); job mode runs one per invocation, so neither applies. */
export function Replicas({ fn }: { fn: FunctionView }) {
  if (fn.invocation.mode === "http") return <>{`${fn.status.readyReplicas}/${desiredOf(fn)}`}</>;
  return <span title="job mode: one process per invocation">–</span>;
}
