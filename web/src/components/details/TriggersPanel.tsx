import type { FunctionView, Trigger, TriggerStatus } from "../../api/types";
import { shortId, timeAgo } from "../../lib/format";
import { Card, ScrollTable } from "../ui";

/** What a trigger listens to, in one line. */
export function triggerSource(t: Trigger): string {
  switch (t.type) {
    case "cron": {
      const extra = [t.timezone && t.timezone !== "UTC" ? t.timezone : "", t.missed === "once" ? "missed: once" : ""].filter(Boolean);
      return `${t.schedule ?? ""}${extra.length > 0 ? ` (${extra.join(", ")})` : ""}`;
    }
    case "nats":
      return `subject ${t.subject ?? ""}`;
    case "event": {
      const f = t.filter ?? {};
      const parts = [`type ${f.type || "*"}`, `function ${f.function || "*"}`];
      if (f.source && f.source !== "*") parts.push(`source ${f.source}`);
      return parts.join(", ");
    }
  }
  return "";
}

/** In the future, relative: "in 42s", "in 5m"; a date beyond a day. */
function timeUntil(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, Math.round((t - now) / 1000));
  if (s < 60) return `in ${s}s`;
  if (s < 3600) return `in ${Math.floor(s / 60)}m`;
  if (s < 86400) return `in ${Math.floor(s / 3600)}h`;
  return new Date(t).toISOString().slice(0, 16).replace("T", " ");
}

/**
 * The function's triggers with their state. status.triggers lists them in
 * the spec's order (the API merges the invoker's state with the spec), so
 * the two lists pair up by position; without a status (an answer that
 * carries none) the counts show as unknown.
 */
export function TriggersPanel({ fn, now }: { fn: FunctionView; now: number }) {
  const triggers = fn.triggers ?? [];
  if (triggers.length === 0) return null;
  const states = fn.status.triggers ?? [];
  return (
    <Card title="Triggers">
      <ScrollTable caption="Triggers" columns={["Type", "Fires on", "Fires", "Errors", "Last fire", "Last error", "Next fires"]}>
        {triggers.map((t, i) => {
          const st: TriggerStatus | undefined = states[i]?.type === t.type ? states[i] : undefined;
          return (
            <tr key={st?.key ?? i} data-trigger={st?.key}>
              <th scope="row" className="px-2 py-1.5 font-normal">
                {t.type}
              </th>
              <td className="px-2 py-1.5 font-mono text-xs break-all">{triggerSource(t)}</td>
              <td className="px-2 py-1.5 tabular-nums">{st ? st.fires : "—"}</td>
              <td className={`px-2 py-1.5 tabular-nums ${st && st.errors > 0 ? "text-rose-300" : ""}`}>{st ? st.errors : "—"}</td>
              <td className="px-2 py-1.5 text-slate-400">
                {st?.lastFire ? (
                  <>
                    <time dateTime={st.lastFire}>{timeAgo(st.lastFire, now)}</time>
                    {st.lastInvocation && (
                      <span className="ml-1 font-mono text-xs" title={st.lastInvocation}>
                        {shortId(st.lastInvocation)}
                      </span>
                    )}
                  </>
                ) : (
                  "never"
                )}
              </td>
              <td className="max-w-[14rem] px-2 py-1.5 text-rose-300" title={st?.lastError}>
                {st?.lastError ? (
                  <>
                    <span className="block truncate">{st.lastError}</span>
                    {st.lastErrorAt && <time dateTime={st.lastErrorAt} className="text-xs text-slate-400">{timeAgo(st.lastErrorAt, now)}</time>}
                  </>
                ) : (
                  ""
                )}
              </td>
              <td className="px-2 py-1.5 text-slate-400">
                {st?.nextFires && st.nextFires.length > 0 ? (
                  <ul aria-label="Next fires">
                    {st.nextFires.map((n) => (
                      <li key={n}>
                        <time dateTime={n} title={n}>
                          {timeUntil(n, now)}
                        </time>
                      </li>
                    ))}
                  </ul>
                ) : (
                  "—"
                )}
              </td>
            </tr>
          );
        })}
      </ScrollTable>
    </Card>
  );
}
