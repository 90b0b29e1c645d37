import type { RolloutState } from "../../api/types";
import { timeAgo } from "../../lib/format";
import { Card } from "../ui";

type RolloutPhase = RolloutState["phase"];

const STYLE: Record<RolloutPhase, string> = {
  progressing: "bg-amber-500/20 text-amber-300 ring-amber-500/40",
  complete: "bg-emerald-500/20 text-emerald-300 ring-emerald-500/40",
  "rolled-back": "bg-rose-500/20 text-rose-300 ring-rose-500/40",
};

const BAR: Record<RolloutPhase, string> = {
  progressing: "bg-amber-400",
  complete: "bg-emerald-400",
  "rolled-back": "bg-rose-400",
};

/** The rollout's phase as a coloured pill, like the function's PhaseBadge; the word carries the meaning. */
export function RolloutPhaseBadge({ phase }: { phase: RolloutPhase }) {
  return (
    <span
      data-testid="rollout-phase"
      className={`inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ring-slate-600 ${STYLE[phase] ?? "bg-slate-700 text-slate-100"}`}
    >
      {phase}
    </span>
  );
}

/** 0 to 100, whatever the API sent. */
function clampPercent(p: number): number {
  return Number.isFinite(p) ? Math.min(100, Math.max(0, p)) : 0;
}

/**
 * Where the function's gradual rollout (status.rollout) stands: its phase,
 * the new revision's share against the one it replaces, the last step's
 * message, and the share as a progress bar. It is part of the function, so it
 * is as live as the rest of the page (the function's query, refreshed by its
 * events).
 */
export function RolloutPanel({ rollout, now }: { rollout: RolloutState; now: number }) {
  const percent = clampPercent(rollout.percent);
  const summary = `revision ${rollout.revision} at ${percent}% (from revision ${rollout.from})`;
  return (
    <Card title="Rollout">
      <div className="space-y-2 text-sm" data-testid="rollout">
        <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
          <RolloutPhaseBadge phase={rollout.phase} />
          <span className="tabular-nums" data-testid="rollout-summary">
            {summary}
          </span>
          <time className="text-slate-400" dateTime={rollout.updatedAt} title={rollout.updatedAt}>
            {timeAgo(rollout.updatedAt, now)}
          </time>
        </div>
        <div
          role="progressbar"
          aria-label={`Rollout of revision ${rollout.revision}`}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={percent}
          aria-valuetext={`${percent}%, ${rollout.phase}`}
          className="h-2 w-full overflow-hidden rounded-full bg-slate-800"
        >
          <div className={`h-full rounded-full transition-[width] ${BAR[rollout.phase] ?? "bg-slate-400"}`} style={{ width: `${percent}%` }} />
        </div>
        {rollout.message && (
          <p className="text-slate-300" data-testid="rollout-message">
            {rollout.message}
          </p>
        )}
      </div>
    </Card>
  );
}
