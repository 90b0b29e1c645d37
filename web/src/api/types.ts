// Names for the generated schema's types, so the app never hand-writes them.
import type { components, operations } from "./schema";

type Schemas = components["schemas"];

/** As openapi-fetch returns it (its Readable mapping widens the command tuple). */
export type FunctionView = Omit<Schemas["Function"], "command"> & { command?: string[] };
export type FunctionSpec = Schemas["FunctionSpec"];
export type FunctionStatus = Schemas["FunctionStatus"];
export type Phase = FunctionStatus["phase"];
export type Mode = NonNullable<Schemas["Invocation"]["mode"]>;
export type InvocationRecord = Schemas["InvocationRecord"];
export type InvocationStatus = InvocationRecord["status"];
export type LogLine = Schemas["LogLine"];
export type DeadLetter = Schemas["DeadLetter"];
export type ErrorBody = Schemas["Error"];
export type Trigger = Schemas["Trigger"];
export type TriggerStatus = Schemas["TriggerStatus"];
export type EventFilter = Schemas["EventFilter"];

/**
 * What the app writes. Two quirks of the generated types are absorbed here,
 * in one place: FunctionSpec's top-level anyOf (image or command) comes out
 * as `unknown`, and the command's prefixItems (first item not blank) plus
 * items as the one-element tuple `[string]`. The response schema, Function,
 * carries the same fields, so the spec is typed from it.
 */
export type Argv = string[];
export type Scale = Schemas["Scale"];
export type ScaleDecision = Schemas["ScaleDecision"];

/** What the app writes: never the older `replicas` and `autoscaling`, which the API maps to `scale`. */
export type SpecInput = Pick<FunctionView, "name" | "image" | "env" | "invocation" | "resources" | "labels" | "scale" | "http" | "triggers" | "traffic" | "rollout"> & {
  command?: Argv;
  /** The tenant's secrets the function reads (one file each in $EVENTFLOW_SECRETS_DIR). */
  secrets?: string[];
};

type CreateBody = NonNullable<operations["createFunction"]["requestBody"]>["content"]["application/json"];
type UpdateBody = NonNullable<operations["updateFunction"]["requestBody"]>["content"]["application/json"];

export function toWireSpec(s: SpecInput): CreateBody & UpdateBody {
  return s as CreateBody & UpdateBody;
}

/** A secret as the API shows it: never its value. */
export type SecretView = Schemas["Secret"];
/** One stored revision of a function's spec; revision is the function's generation. */
export type Revision = Schemas["Revision"];
/** One share of an http-mode function's traffic split. */
export type TrafficTarget = Schemas["TrafficTarget"];
/** Where an http-mode function's gradual rollout stands (status.rollout). */
export type RolloutState = Schemas["RolloutState"];
export type RevisionCause = Revision["cause"];
