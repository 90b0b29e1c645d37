import { useEffect, useRef, useState } from "react";
import { RotateCcw } from "lucide-react";
import { useDeadLetters, useRedrive } from "../../api/queries";
import { errorMessage } from "../../api/errors";
import { shortId, timeAgo } from "../../lib/format";
import { ConfirmDialog } from "../ConfirmDialog";
import { Button, Card, ErrorAlert, ScrollTable } from "../ui";

function redrivenText(n: number): string {
  if (n === 0) return "Nothing was redriven.";
  return `Redriven ${n} invocation${n === 1 ? "" : "s"}: queued again.`;
}

/**
 * The function's dead letters (async invocations that failed every attempt),
 * oldest first, each with a redrive; "Redrive all" asks first. The API's
 * answer (how many were queued again) is announced, and focus goes to it, as
 * the row whose button was pressed leaves the list.
 */
export function DeadLettersPanel({ name, live, enabled, now }: { name: string; live: boolean; enabled: boolean; now: number }) {
  const list = useDeadLetters(name, { live, enabled });
  const redrive = useRedrive(name);
  const [confirming, setConfirming] = useState(false);
  const [answer, setAnswer] = useState<{ n: number; seq: number } | null>(null);
  const status = useRef<HTMLParagraphElement>(null);

  useEffect(() => {
    if (answer) status.current?.focus();
  }, [answer]);

  const run = (ids: string[] | null) => {
    setAnswer(null);
    redrive.mutate(ids, {
      onSuccess: (redriven) => {
        setConfirming(false);
        setAnswer((a) => ({ n: redriven.length, seq: (a?.seq ?? 0) + 1 }));
      },
    });
  };

  const items = list.data ?? [];
  const pendingIds = redrive.isPending ? redrive.variables : undefined;
  return (
    <Card
      title="Dead letters"
      actions={
        <Button onClick={() => setConfirming(true)} disabled={items.length === 0 || redrive.isPending}>
          <RotateCcw aria-hidden className="size-4" /> Redrive all
        </Button>
      }
    >
      <div className="space-y-3">
        <p ref={status} role="status" tabIndex={-1} className="text-sm text-emerald-300 empty:hidden" data-testid="redrive-answer">
          {answer ? redrivenText(answer.n) : ""}
        </p>
        {redrive.isError && !confirming && <ErrorAlert title="Not redriven" message={errorMessage(redrive.error)} />}
        {list.isError && <ErrorAlert title="Could not load the dead letters" message={errorMessage(list.error)} />}
        {list.isPending && !list.isError && <p className="text-sm text-slate-400">Loading the dead letters…</p>}
        {list.data && items.length === 0 && (
          <div className="text-sm">
            <p className="font-medium text-slate-200">No dead letters</p>
            <p className="text-slate-400">Async invocations that failed every retry land here, to be redriven.</p>
          </div>
        )}
        {items.length > 0 && (
          <ScrollTable caption="Dead letters, oldest first" columns={["Invocation", "Attempts", "Last error", "Dead-lettered", <span className="sr-only">Actions</span>]}>
            {items.map((d) => {
              const busy = pendingIds === null || (pendingIds?.includes(d.id) ?? false);
              return (
                <tr key={d.id} data-dead-letter={d.id}>
                  <th scope="row" className="px-2 py-1.5 font-mono text-xs font-normal" title={d.id}>
                    {shortId(d.id)}
                  </th>
                  <td className="px-2 py-1.5 tabular-nums">{d.attempts}</td>
                  <td className="max-w-[18rem] truncate px-2 py-1.5 text-rose-300" title={d.error}>
                    {d.error}
                  </td>
                  <td className="px-2 py-1.5 text-slate-400">
                    <time dateTime={d.deadLetteredAt}>{timeAgo(d.deadLetteredAt, now)}</time>
                  </td>
                  <td className="px-2 py-1.5 text-right">
                    <Button
                      variant="ghost"
                      aria-label={`Redrive ${shortId(d.id)}`}
                      // aria-disabled, not disabled: the focus stays on the button while the redrive is out.
                      aria-disabled={redrive.isPending}
                      onClick={redrive.isPending ? undefined : () => run([d.id])}
                    >
                      <RotateCcw aria-hidden className="size-4" /> {busy ? "Redriving…" : "Redrive"}
                    </Button>
                  </td>
                </tr>
              );
            })}
          </ScrollTable>
        )}
      </div>
      {confirming && (
        <ConfirmDialog
          title={`Redrive all dead letters of ${name}?`}
          confirmLabel="Redrive all"
          busy={redrive.isPending}
          onCancel={() => setConfirming(false)}
          onConfirm={() => run(null)}
        >
          <p>
            {items.length === 1 ? "The dead letter" : `All ${items.length} dead letters`} will be queued again, each with a fresh set of attempts
            under the function&apos;s retry policy.
          </p>
          {redrive.isError && <ErrorAlert title="Not redriven" message={errorMessage(redrive.error)} />}
        </ConfirmDialog>
      )}
    </Card>
  );
}
