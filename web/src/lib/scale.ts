// How a function's scale and scaling status read in the console.
import type { FunctionView, Scale } from "../api/types";

/** The desired instances: status.replicas (the scaler's), else the scale's minimum. http mode only. */
export function desiredOf(fn: FunctionView): number {
  return fn.status.replicas ?? fn.scale?.min ?? 1;
}

const UNIT: Record<string, string> = {
  concurrency: "requests in flight",
  queue: "queued invocations",
  cpu: "% of the CPU request",
};

/** "0–4 instances" (or "2 instances" when fixed). */
export function boundsOf(sc: Scale): string {
  const n = (k: number) => `${k} instance${k === 1 ? "" : "s"}`;
  return sc.min === sc.max ? `${n(sc.min)}, fixed` : `${sc.min}–${n(sc.max)}`;
}

/** What the scaler aims at: "target 10 requests in flight per instance; to zero after 30s idle". */
export function policyOf(sc: Scale): string {
  const metric = sc.metric ?? "concurrency";
  if (sc.min === sc.max && metric !== "cpu") return "no autoscaling";
  const target = sc.target ?? (metric === "cpu" ? 80 : 10);
  const aim = metric === "cpu" ? `target ${target}% CPU (Kubernetes' autoscaler)` : `target ${target} ${UNIT[metric] ?? metric} per instance`;
  const idle = String(sc.idleAfter ?? "30s");
  return `${aim}; ${sc.min === 0 ? "to zero" : "down"} after ${idle} idle`;
}
