import { useEffect, useRef, useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { Send } from "lucide-react";
import { invokeFunction, type InvokeResult } from "../../api/invoke";
import { keys, useInvocation } from "../../api/queries";
import { errorMessage } from "../../api/errors";
import { formatMs } from "../../lib/format";
import { Button, Card, ErrorAlert, inputClass } from "../ui";

/** How long after a sync answer the history is read again (its record is written just after). */
export const SYNC_RECORD_DELAY_MS = 1_000;

/** Send a payload, sync or async, and see what came back and how long it took. */
export function InvokePanel({ name, disabled }: { name: string; disabled: boolean }) {
  const qc = useQueryClient();
  const [payload, setPayload] = useState("");
  const [async, setAsync] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<InvokeResult>();
  const [failure, setFailure] = useState<string>();
  // A request still out when the panel goes away is abandoned.
  const inFlight = useRef<AbortController | null>(null);
  // The invoker records a sync invocation just after it answers, and sync
  // invocations publish no event: the history is read again a moment
  // later, so the new row shows without waiting for the next poll.
  const reread = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(
    () => () => {
      inFlight.current?.abort();
      clearTimeout(reread.current);
    },
    [],
  );

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const ctl = new AbortController();
    inFlight.current = ctl;
    setBusy(true);
    setFailure(undefined);
    setResult(undefined);
    try {
      setResult(await invokeFunction(name, payload, async, ctl.signal));
      const refresh = () => void qc.invalidateQueries({ queryKey: keys.invocations(name), exact: true });
      refresh();
      clearTimeout(reread.current);
      reread.current = setTimeout(refresh, SYNC_RECORD_DELAY_MS);
    } catch (err) {
      if (!ctl.signal.aborted) setFailure(errorMessage(err));
    } finally {
      inFlight.current = null;
      setBusy(false);
    }
  };

  return (
    <Card title="Invoke">
      <form onSubmit={(e) => void submit(e)} className="space-y-3" aria-label="Invoke the function">
        <div className="space-y-1">
          <label htmlFor="payload" className="block text-sm font-medium text-slate-200">
            Payload
          </label>
          <textarea id="payload" rows={4} className={`${inputClass} font-mono`} value={payload} onChange={(e) => setPayload(e.target.value)} placeholder="hello" />
        </div>
        <fieldset className="flex items-center gap-4 text-sm">
          <legend className="sr-only">How to invoke</legend>
          <label className="flex items-center gap-1.5">
            <input type="radio" name="invoke-mode" checked={!async} onChange={() => setAsync(false)} /> Sync (wait for the answer)
          </label>
          <label className="flex items-center gap-1.5">
            <input type="radio" name="invoke-mode" checked={async} onChange={() => setAsync(true)} /> Async (queue it)
          </label>
        </fieldset>
        <Button type="submit" variant="primary" disabled={busy || disabled}>
          <Send aria-hidden className="size-4" /> {busy ? "Invoking…" : "Invoke"}
        </Button>
      </form>
      {/* Present before the result, so screen readers announce it when it arrives. */}
      <p role="status" className="sr-only">
        {busy ? "Invoking…" : result ? `Answered with status ${result.status} in ${formatMs(result.elapsedMs)}` : ""}
      </p>
      {failure && <ErrorAlert title="The request failed" message={failure} />}
      {result && <InvokeOutcome result={result} />}
    </Card>
  );
}

function InvokeOutcome({ result }: { result: InvokeResult }) {
  return (
    <section aria-label="Invocation result" className="mt-4 space-y-2">
      <dl className="flex flex-wrap gap-x-6 gap-y-1 text-sm">
        <div className="flex gap-1.5">
          <dt className="text-slate-400">Status</dt>
          <dd data-testid="invoke-status" className={result.ok ? "text-emerald-300" : "text-rose-300"}>
            {result.status}
          </dd>
        </div>
        <div className="flex gap-1.5">
          <dt className="text-slate-400">Duration</dt>
          <dd data-testid="invoke-duration">
            {result.durationMs !== undefined ? `${formatMs(result.durationMs)} run, ` : ""}
            {formatMs(result.elapsedMs)} round trip
          </dd>
        </div>
        {result.exitCode !== undefined && (
          <div className="flex gap-1.5">
            <dt className="text-slate-400">Exit code</dt>
            <dd>{result.exitCode}</dd>
          </div>
        )}
        {result.invocationId && (
          <div className="flex gap-1.5">
            <dt className="text-slate-400">Invocation</dt>
            <dd className="font-mono text-xs leading-5">{result.invocationId}</dd>
          </div>
        )}
      </dl>
      {result.asyncId ? <AsyncRecord id={result.asyncId} /> : <Output text={result.body} label="Response body" />}
    </section>
  );
}

function Output({ text, label }: { text: string; label: string }) {
  return (
    <div>
      <h3 className="text-xs font-semibold uppercase tracking-wide text-slate-400">{label}</h3>
      <pre data-testid="invoke-output" className="mt-1 max-h-64 overflow-auto rounded-md bg-black/60 p-2 font-mono text-xs whitespace-pre-wrap break-all">
        {text === "" ? "(empty)" : text}
      </pre>
    </div>
  );
}

/** An async invocation, followed until it ends. */
function AsyncRecord({ id }: { id: string }) {
  const rec = useInvocation(id);
  if (rec.isError) return <ErrorAlert title="Could not read the invocation" message={errorMessage(rec.error)} />;
  const r = rec.data;
  return (
    <div className="space-y-2">
      <p className="text-sm">
        Queued; now <span data-testid="async-status" className="font-medium">{r?.status ?? "queued"}</span>
        {r?.attempts ? ` after ${r.attempts} attempt${r.attempts > 1 ? "s" : ""}` : ""}
        {r?.durationMs !== undefined ? `, ${formatMs(r.durationMs)}` : ""}
      </p>
      {r?.output !== undefined && <Output text={r.output} label="Output" />}
      {r?.error && <Output text={r.error} label="Error" />}
    </div>
  );
}
