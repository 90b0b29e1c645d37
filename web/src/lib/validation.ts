// Client-side checks that mirror the gateway's (pkg/function/validate.go and
// the FunctionSpec schema in openapi.json), so most mistakes are caught
// beside the field before a round trip. The server stays the authority:
// whatever it still refuses is shown as it says it.

export const NAME_MAX = 63;
export const IMAGE_MAX = 512;
export const ARGS_MAX = 256;
export const ENV_MAX = 256;
export const REPLICAS_MAX = 100;
export const TIMEOUT_MAX_MS = 15 * 60 * 1000;

const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** undefined when valid, else the message to show. */
export type Check = string | undefined;

export function checkName(name: string): Check {
  if (name === "") return "A name is required";
  if (name.length > NAME_MAX) return `At most ${NAME_MAX} characters`;
  if (!DNS1123.test(name)) return "Lower-case letters, digits and '-', starting and ending with a letter or digit";
  return undefined;
}

export function checkTenant(tenant: string): Check {
  if (tenant === "") return "A tenant is required";
  if (tenant.length > 40) return "At most 40 characters";
  if (!DNS1123.test(tenant)) return "Lower-case letters, digits and '-', starting and ending with a letter or digit";
  return undefined;
}

export function checkImage(image: string): Check {
  return image.length > IMAGE_MAX ? `At most ${IMAGE_MAX} characters` : undefined;
}

/** The spec needs an image or a command, and a command's program must not be blank. */
export function checkCommand(argv: string[], image: string): Check {
  if (argv.length === 0) return image.trim() === "" ? "An image or a command is required" : undefined;
  if (argv.length > ARGS_MAX) return `At most ${ARGS_MAX} arguments`;
  if ((argv[0] ?? "").trim() === "") return "The program (first argument) must not be blank";
  return undefined;
}

export function checkEnvName(key: string): Check {
  if (key === "") return "A name is required";
  if (!ENV_NAME.test(key)) return "Letters, digits and '_', not starting with a digit";
  return undefined;
}

export function checkEnvNames(keys: string[]): Check {
  if (keys.length > ENV_MAX) return `At most ${ENV_MAX} variables`;
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) return `${k} is set twice`;
    seen.add(k);
  }
  return undefined;
}

export function checkReplicas(v: string): Check {
  if (v.trim() === "") return undefined; // the API's default, 1
  if (!/^\d+$/.test(v.trim())) return "A whole number";
  const n = Number(v);
  if (n > REPLICAS_MAX) return `From 0 to ${REPLICAS_MAX}`;
  return undefined;
}

/** scale.max may not be below scale.min (both already checked as counts). */
export function checkScaleBounds(min: string, max: string): Check {
  if (min.trim() === "" || max.trim() === "") return undefined;
  if (Number(max) < Number(min)) return "At least the minimum";
  return undefined;
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go duration ("1m30s", "500ms"), or a bare number of seconds, into milliseconds. */
export function parseDuration(v: string): number | undefined {
  const s = v.trim();
  if (s === "0") return 0;
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m || m[1] === undefined || m[2] === undefined) return undefined;
    total += Number(m[1]) * (UNIT_MS[m[2]] ?? NaN);
    pos = re.lastIndex;
  }
  return pos === 0 || Number.isNaN(total) ? undefined : total;
}

export function checkTimeout(v: string): Check {
  if (v.trim() === "") return undefined; // the API's default, 30s
  const ms = parseDuration(v);
  if (ms === undefined) return 'A duration like "30s", "2m" or "1m30s"';
  if (ms > TIMEOUT_MAX_MS) return "At most 15m";
  return undefined;
}
