import type { FunctionView } from "../api/types";

/** A function as the API returns it: a job running `cat`, just stored; override what a test is about. */
export function functionView(name: string, over: Partial<FunctionView> = {}): FunctionView {
  return {
    name,
    tenant: "demo",
    generation: 1,
    command: ["cat"],
    invocation: { mode: "job", timeout: "30s" },
    createdAt: "2026-01-01T00:00:00Z",
    updatedAt: "2026-01-01T00:00:00Z",
    status: { phase: "Pending", readyReplicas: 0, observedGeneration: 0 },
    ...over,
  };
}
