import { useEffect, useId, useMemo, useRef, useState } from "react";
import { History, Undo2 } from "lucide-react";
import { useRevisions, useRollback } from "../../api/queries";
import { errorMessage } from "../../api/errors";
import type { Revision, RolloutState, TrafficTarget } from "../../api/types";
import { diffJson, diffStats, type DiffLine } from "../../lib/diff";
import { timeAgo } from "../../lib/format";
import { ConfirmDialog } from "../ConfirmDialog";
import { Button, Card, ErrorAlert, ScrollTable, inputClass } from "../ui";

const CAUSES: Record<string, string> = {
  created: "created",
  updated: "updated",
  rollback: "rolled back",
  "secret-rotated": "secret rotated",
};

/** "sha256:0123456789abcdef…" → "0123456789ab". */
export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, "").slice(0, 12);
}

/** The share of the invocations a revision takes under a traffic split (undefined: none named). */
export function trafficShare(traffic: TrafficTarget[] | undefined, revision: number, current: number | undefined): number | undefined {
  for (const t of traffic ?? []) {
    if (t.tag === "latest" ? revision === current : t.revision === revision) return t.percent;
  }
  return undefined;
}

/**
 * The share of the invocations a revision takes while a gradual rollout
 * splits them (phase progressing or rolled-back): the latest revision (the
 * current one) gets percent, the one rolled out from the rest. Undefined: the
 * rollout splits nothing (none, complete) or does not name the revision.
 */
export function rolloutShare(rollout: RolloutState | undefined, revision: number, current: number | undefined): number | undefined {
  if (!rollout || (rollout.phase !== "progressing" && rollout.phase !== "rolled-back")) return undefined;
  const percent = Math.min(100, Math.max(0, rollout.percent));
  // The latest revision, or the rollout's own while the current generation is not known yet.
  const latest = current ?? rollout.revision;
  if (latest === rollout.from) return undefined;
  if (revision === latest) return percent;
  if (revision === rollout.from) return 100 - percent;
  return undefined;
}

interface Props {
  name: string;
  /** The function's generation: the current revision. */
  current: number | undefined;
  /** The function's traffic split (http mode), if any. */
  traffic?: TrafficTarget[];
  /** The function's gradual rollout (status.rollout), if any: it splits the traffic while progressing or rolled back. */
  rollout?: RolloutState | undefined;
  live: boolean;
  enabled: boolean;
  now: number;
}

/**
 * A function's revisions, newest first (the current one marked), a line diff
 * of two chosen revisions' specs, and a rollback per row, confirmed first;
 * the rollback is a new revision with the older spec.
 */
export function RevisionsPanel({ name, current, traffic, rollout, live, enabled, now }: Props) {
  const list = useRevisions(name, { live, enabled });
  const rollback = useRollback(name);
  const [confirming, setConfirming] = useState<Revision | null>(null);
  const [answer, setAnswer] = useState<string | null>(null);
  const status = useRef<HTMLParagraphElement>(null);
  // null: the defaults, the newest revision against the one before it.
  const [from, setFrom] = useState<number | null>(null);
  const [to, setTo] = useState<number | null>(null);

  useEffect(() => {
    if (answer) status.current?.focus();
  }, [answer]);

  const items = list.data ?? [];
  const newest = items[0]?.revision;
  const currentRev = current ?? newest;
  const fromRev = from ?? items[1]?.revision ?? newest;
  const toRev = to ?? newest;

  const run = (r: Revision) => {
    setAnswer(null);
    rollback.mutate(r.revision, {
      onSuccess: (fn) => {
        setConfirming(null);
        // A new revision to compare: back to the defaults (the newest against the one before).
        setFrom(null);
        setTo(null);
        const now = fn?.generation;
        setAnswer(
          now === undefined || now === currentRev
            ? `Revision ${r.revision} is already current.`
            : `Rolled back to revision ${r.revision}: the function is now at revision ${now}.`,
        );
      },
    });
  };

  return (
    <Card title="Revisions">
      <div className="space-y-4">
        <p ref={status} role="status" tabIndex={-1} className="text-sm text-emerald-300 empty:hidden" data-testid="rollback-answer">
          {answer ?? ""}
        </p>
        {rollback.isError && confirming === null && <ErrorAlert title="Not rolled back" message={errorMessage(rollback.error)} />}
        {list.isError && <ErrorAlert title="Could not load the revisions" message={errorMessage(list.error)} />}
        {list.isPending && !list.isError && <p className="text-sm text-slate-400">Loading the revisions…</p>}
        {list.data && items.length === 0 && <p className="text-sm text-slate-400">No revisions recorded.</p>}
        {items.length > 0 && (
          <ScrollTable caption="Revisions, newest first" columns={["Revision", "Cause", "Message", "When", "By", "Digest", <span className="sr-only">Actions</span>]}>
            {items.map((r) => {
              const isCurrent = r.revision === currentRev;
              // A fixed split (spec.traffic) names the shares; without one, a rollout under way does.
              const fixed = traffic !== undefined && traffic.length > 0;
              const share = fixed ? trafficShare(traffic, r.revision, currentRev) : rolloutShare(rollout, r.revision, currentRev);
              return (
                <tr key={r.revision} data-revision={r.revision} aria-current={isCurrent ? "true" : undefined} className={isCurrent ? "bg-sky-950/40" : undefined}>
                  <th scope="row" className="whitespace-nowrap px-2 py-1.5 font-normal tabular-nums">
                    {r.revision}
                    {isCurrent && (
                      <span className="ml-2 rounded-full bg-sky-900 px-2 py-0.5 text-xs text-sky-200" data-testid="current-revision">
                        current
                      </span>
                    )}
                    {share !== undefined && (
                      <span className="ml-2 rounded-full bg-violet-900 px-2 py-0.5 text-xs text-violet-200" data-testid="traffic-share" title={fixed ? "Its share of the invocations (traffic)" : "Its share of the invocations (gradual rollout)"}>
                        {share}% of traffic
                      </span>
                    )}
                  </th>
                  <td className="whitespace-nowrap px-2 py-1.5" data-testid="revision-cause">
                    {CAUSES[r.cause] ?? r.cause}
                  </td>
                  <td className="max-w-[18rem] truncate px-2 py-1.5 text-slate-300" title={r.message}>
                    {r.message || <span className="text-slate-500">—</span>}
                  </td>
                  <td className="whitespace-nowrap px-2 py-1.5 text-slate-400">
                    <time dateTime={r.createdAt} title={r.createdAt}>
                      {timeAgo(r.createdAt, now)}
                    </time>
                  </td>
                  <td className="max-w-[10rem] truncate px-2 py-1.5 text-slate-400" title={r.createdBy}>
                    {r.createdBy || "—"}
                  </td>
                  <td className="px-2 py-1.5 font-mono text-xs text-slate-400" title={r.digest}>
                    {shortDigest(r.digest)}
                  </td>
                  <td className="whitespace-nowrap px-2 py-1.5 text-right">
                    {!isCurrent && (
                      <Button
                        variant="ghost"
                        // The visible text, and which revision (the row's) for a screen reader's list of buttons.
                        aria-label={`Roll back to this revision: revision ${r.revision}`}
                        aria-disabled={rollback.isPending}
                        onClick={rollback.isPending ? undefined : () => setConfirming(r)}
                      >
                        <Undo2 aria-hidden className="size-4" /> Roll back to this revision
                      </Button>
                    )}
                  </td>
                </tr>
              );
            })}
          </ScrollTable>
        )}
        {items.length > 0 && fromRev !== undefined && toRev !== undefined && (
          <RevisionDiff items={items} from={fromRev} to={toRev} onFrom={setFrom} onTo={setTo} />
        )}
      </div>
      {confirming && (
        <ConfirmDialog
          title={`Roll back ${name} to revision ${confirming.revision}?`}
          confirmLabel="Roll back"
          busy={rollback.isPending}
          onCancel={() => setConfirming(null)}
          onConfirm={() => run(confirming)}
        >
          <p>
            Revision {confirming.revision}&apos;s spec becomes current again, as a new revision; the function is deployed with it. Its secrets are read
            at their current versions.
          </p>
          {rollback.isError && <ErrorAlert title="Not rolled back" message={errorMessage(rollback.error)} />}
        </ConfirmDialog>
      )}
    </Card>
  );
}

interface DiffProps {
  items: Revision[];
  from: number;
  to: number;
  onFrom: (n: number) => void;
  onTo: (n: number) => void;
}

/** Two revisions chosen, and the line diff of their specs as pretty JSON. */
function RevisionDiff({ items, from, to, onFrom, onTo }: DiffProps) {
  const id = useId();
  const a = items.find((r) => r.revision === from);
  const b = items.find((r) => r.revision === to);
  const lines = useMemo(() => (a && b ? diffJson(a.spec, b.spec) : []), [a, b]);
  const stats = diffStats(lines);
  const options = items.map((r) => (
    <option key={r.revision} value={r.revision}>
      Revision {r.revision} ({CAUSES[r.cause] ?? r.cause})
    </option>
  ));
  return (
    <section aria-labelledby={`${id}-title`} className="space-y-2">
      <h3 id={`${id}-title`} className="flex items-center gap-1.5 text-sm font-semibold text-slate-200">
        <History aria-hidden className="size-4" /> Compare specs
      </h3>
      <div className="flex flex-wrap items-end gap-3 text-sm">
        <div className="space-y-1">
          <label htmlFor={`${id}-from`} className="block text-slate-300">
            From revision
          </label>
          <select id={`${id}-from`} className={`${inputClass} w-56`} value={from} onChange={(e) => onFrom(Number(e.target.value))}>
            {options}
          </select>
        </div>
        <div className="space-y-1">
          <label htmlFor={`${id}-to`} className="block text-slate-300">
            To revision
          </label>
          <select id={`${id}-to`} className={`${inputClass} w-56`} value={to} onChange={(e) => onTo(Number(e.target.value))}>
            {options}
          </select>
        </div>
        <p className="pb-1.5 text-slate-400" data-testid="diff-stats">
          {stats.added === 0 && stats.removed === 0 ? "The specs are the same." : `${stats.added} line${stats.added === 1 ? "" : "s"} added, ${stats.removed} removed`}
        </p>
      </div>
      <DiffView lines={lines} label={`Spec of revision ${from} against revision ${to}`} />
    </section>
  );
}

const LINE: Record<DiffLine["kind"], string> = {
  same: "text-slate-400",
  add: "bg-emerald-950/70 text-emerald-200",
  del: "bg-rose-950/70 text-rose-200",
};

export function DiffView({ lines, label }: { lines: DiffLine[]; label: string }) {
  return (
    <div role="group" aria-label={label} className="max-h-96 overflow-auto rounded-md border border-slate-800 bg-slate-950 py-1 font-mono text-xs" data-testid="spec-diff">
      {lines.map((l, i) => (
        <div key={i} className={`flex whitespace-pre px-2 ${LINE[l.kind]}`} data-diff={l.kind}>
          <span aria-hidden className="w-4 shrink-0 select-none">
            {l.kind === "add" ? "+" : l.kind === "del" ? "-" : " "}
          </span>
          {l.kind === "add" ? (
            <ins className="no-underline">
              <span className="sr-only">added: </span>
              {l.text}
            </ins>
          ) : l.kind === "del" ? (
            <del className="no-underline">
              <span className="sr-only">removed: </span>
              {l.text}
            </del>
          ) : (
            <span>{l.text}</span>
          )}
        </div>
      ))}
    </div>
  );
}
