import type { Phase } from "../api/types";

const STYLE: Record<Phase, string> = {
  Pending: "bg-slate-700 text-slate-100",
  Deploying: "bg-amber-500/20 text-amber-300 ring-amber-500/40",
  Ready: "bg-emerald-500/20 text-emerald-300 ring-emerald-500/40",
  Failed: "bg-rose-500/20 text-rose-300 ring-rose-500/40",
  Deleting: "bg-slate-500/20 text-slate-300 ring-slate-500/40",
};

/** The phase as a coloured pill; the word itself carries the meaning. */
export function PhaseBadge({ phase }: { phase: Phase }) {
  return (
    <span data-testid="phase" className={`inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ring-slate-600 ${STYLE[phase]}`}>
      {phase}
    </span>
  );
}
