// The create/edit form's values, their checks and their conversion to a spec.
import type { FieldError, FieldErrors, Resolver } from "react-hook-form";
import type { FunctionView, Mode, SpecInput } from "../../api/types";
import { joinCommandLine, splitCommandLine } from "../../lib/argv";
import { checkCommand, checkEnvName, checkEnvNames, checkImage, checkName, checkReplicas, checkScaleBounds, checkTimeout } from "../../lib/validation";

export interface FormValues {
  name: string;
  image: string;
  /** How the command is edited: one field per argument, or one shell-like line. */
  commandStyle: "args" | "line";
  args: { value: string }[];
  line: string;
  env: { key: string; value: string }[];
  /** http mode: scale.min and scale.max (blank: the API's default, one instance). */
  minInstances: string;
  maxInstances: string;
  mode: Mode;
  timeout: string;
  /** spec.secrets: the names of the tenant's secrets the function reads. */
  secrets: string[];
}

export const emptyForm: FormValues = {
  name: "",
  image: "",
  commandStyle: "line",
  args: [{ value: "" }],
  line: "",
  env: [],
  minInstances: "1",
  maxInstances: "1",
  mode: "job",
  timeout: "30s",
  secrets: [],
};

export function formFromFunction(f: FunctionView): FormValues {
  const argv = f.command ?? [];
  const timeout = f.invocation.timeout;
  return {
    name: f.name,
    image: f.image ?? "",
    commandStyle: "args",
    args: argv.length > 0 ? argv.map((value) => ({ value })) : [{ value: "" }],
    line: joinCommandLine(argv),
    env: Object.entries(f.env ?? {}).map(([key, value]) => ({ key, value })),
    minInstances: String(f.scale?.min ?? 1),
    maxInstances: String(f.scale?.max ?? 1),
    mode: f.invocation.mode ?? "job",
    timeout: timeout === undefined ? "" : typeof timeout === "number" ? `${timeout}s` : timeout,
    secrets: [...(f.secrets ?? [])],
  };
}

/** The argv the form describes; empty argument fields at the end are ignored. */
export function argvOf(v: Pick<FormValues, "commandStyle" | "args" | "line">): { argv: string[]; error?: string } {
  if (v.commandStyle === "line") {
    const r = splitCommandLine(v.line);
    return r.ok ? { argv: r.argv } : { argv: [], error: r.error };
  }
  const argv = v.args.map((a) => a.value);
  while (argv.length > 0 && argv[argv.length - 1] === "") argv.pop();
  return { argv };
}

/**
 * Every problem of the form, by field path ("env.2.key"), as the messages to
 * show. The command and the env list as a whole are not single inputs, so
 * their messages go under react-hook-form's "root".
 */
function validateForm(v: FormValues, opts: { creating: boolean }): Record<string, string> {
  const errors: Record<string, string> = {};
  const put = (path: string, msg: string | undefined) => {
    if (msg) errors[path] = msg;
  };
  // A taken name is not checked here: the create is conditional and the API refuses it (412), race-free.
  if (opts.creating) put("name", checkName(v.name));
  put("image", checkImage(v.image));
  const { argv, error } = argvOf(v);
  put("root.command", error ?? checkCommand(argv, v.image));
  v.env.forEach((e, i) => put(`env.${i}.key`, checkEnvName(e.key)));
  put("root.envList", checkEnvNames(v.env.map((e) => e.key)));
  if (v.mode === "http") {
    put("minInstances", checkReplicas(v.minInstances));
    put("maxInstances", checkReplicas(v.maxInstances) ?? checkScaleBounds(v.minInstances, v.maxInstances));
  }
  put("timeout", checkTimeout(v.timeout));
  return errors;
}

/** The spec to send. Fields the form does not edit are kept from the existing function. */
export function toSpec(v: FormValues, existing: FunctionView | undefined): SpecInput {
  const { argv } = argvOf(v);
  const spec: SpecInput = {
    name: existing?.name ?? v.name,
    invocation: { ...existing?.invocation, mode: v.mode },
  };
  if (v.image.trim() !== "") spec.image = v.image.trim();
  if (argv.length > 0) spec.command = argv;
  if (v.env.length > 0) spec.env = Object.fromEntries(v.env.map((e) => [e.key, e.value]));
  // The scale's other fields (target, metric, idleAfter) are kept; job mode has none.
  if (v.mode === "http" && (v.minInstances.trim() !== "" || v.maxInstances.trim() !== "")) {
    const min = v.minInstances.trim() === "" ? undefined : Number(v.minInstances);
    const max = v.maxInstances.trim() === "" ? undefined : Number(v.maxInstances);
    spec.scale = { ...existing?.scale, min: min ?? max ?? 1, max: max ?? min ?? 1 };
  }
  if (v.timeout.trim() === "") delete spec.invocation.timeout;
  else spec.invocation.timeout = v.timeout.trim();
  if (v.secrets.length > 0) spec.secrets = [...v.secrets];
  if (existing?.resources) spec.resources = existing.resources;
  if (existing?.labels) spec.labels = existing.labels;
  if (existing?.triggers) spec.triggers = existing.triggers;
  // The route's auth, the traffic split and the gradual rollout apply to http mode only: the API refuses them on a job function.
  if (existing?.http && v.mode === "http") spec.http = existing.http;
  if (existing?.traffic && v.mode === "http") spec.traffic = existing.traffic;
  if (existing?.rollout && v.mode === "http") spec.rollout = existing.rollout;
  return spec;
}

/** Puts a flat "a.0.b" → message map into react-hook-form's nested error shape. */
function nestErrors(flat: Record<string, string>): FieldErrors<FormValues> {
  const root: Record<string, unknown> = {};
  for (const [path, message] of Object.entries(flat)) {
    const parts = path.split(".");
    let node: Record<string, unknown> = root;
    parts.forEach((p, i) => {
      if (i === parts.length - 1) {
        node[p] = { type: "validate", message } satisfies FieldError;
      } else {
        node[p] ??= /^\d+$/.test(parts[i + 1] ?? "") ? [] : {};
        node = node[p] as Record<string, unknown>;
      }
    });
  }
  return root as FieldErrors<FormValues>;
}

export function resolver(creating: boolean): Resolver<FormValues> {
  return (values) => {
    const flat = validateForm(values, { creating });
    return Object.keys(flat).length === 0 ? { values, errors: {} } : { values: {}, errors: nestErrors(flat) };
  };
}

/** The form field a server's validation message belongs to ("invocation.timeout: …" → "timeout"). */
export function formFieldOf(
  apiField: string | undefined,
): "name" | "image" | "root.command" | "root.envList" | "root.secrets" | "minInstances" | "maxInstances" | "mode" | "timeout" | undefined {
  if (!apiField) return undefined;
  if (apiField.startsWith("secrets")) return "root.secrets";
  if (apiField === "name" || apiField === "image") return apiField;
  if (apiField === "scale.min") return "minInstances";
  if (apiField === "scale.max" || apiField === "scale") return "maxInstances";
  if (apiField.startsWith("command")) return "root.command";
  if (apiField.startsWith("env")) return "root.envList";
  if (apiField === "invocation.mode") return "mode";
  if (apiField === "invocation.timeout") return "timeout";
  return undefined;
}
