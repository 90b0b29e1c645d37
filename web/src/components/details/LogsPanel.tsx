import { useLayoutEffect, useRef, useState } from "react";
import { Eraser, Pause, Play } from "lucide-react";
import { clockTime, shortId } from "../../lib/format";
import { LiveIndicator } from "../LiveIndicator";
import { Button, Card, inputClass } from "../ui";
import { useLogStream } from "./useLogStream";

/** Live logs with follow (keep scrolled to the end), pause, clear and search. */
export function LogsPanel({ name }: { name: string }) {
  const { state, error, lines, heldCount, paused, setPaused, clear } = useLogStream(name);
  const [follow, setFollow] = useState(true);
  const [q, setQ] = useState("");
  const [cleared, setCleared] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const needle = q.trim().toLowerCase();
  const shown = needle === "" ? lines : lines.filter((l) => l.line.toLowerCase().includes(needle) || l.instance.toLowerCase().includes(needle));

  // On every new line, not on a new count: once the buffer is full the count stays the same.
  // A layout effect scrolls in the same commit that adds the line, before the browser paints,
  // so the newest line never shows a frame out of view (a passive effect may run a task later).
  const newest = lines.at(-1)?.seq;
  useLayoutEffect(() => {
    const el = box.current;
    if (follow && el) el.scrollTop = el.scrollHeight;
  }, [follow, newest, needle]);

  return (
    <Card
      title="Logs"
      actions={
        <>
          <LiveIndicator state={state} paused={paused} />
          <label className="flex items-center gap-1 text-xs text-slate-300">
            <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
          </label>
          <Button onClick={() => setPaused(!paused)} aria-pressed={paused}>
            {paused ? <Play aria-hidden className="size-4" /> : <Pause aria-hidden className="size-4" />}
            {paused ? `Resume${heldCount > 0 ? ` (${heldCount} new)` : ""}` : "Pause"}
          </Button>
          <Button
            onClick={() => {
              clear();
              setCleared(true);
            }}
          >
            <Eraser aria-hidden className="size-4" /> Clear
          </Button>
        </>
      }
    >
      <label htmlFor="log-search" className="sr-only">
        Search logs
      </label>
      <input id="log-search" type="search" placeholder="Search logs" className={`${inputClass} mb-2`} value={q} onChange={(e) => setQ(e.target.value)} />
      {error && state !== "open" && (
        <p className="mb-2 text-xs text-rose-300">
          {state === "stopped" ? "The log stream stopped" : "The log stream dropped; reconnecting"}: {error}
        </p>
      )}
      <div ref={box} role="log" aria-label="Log lines" tabIndex={0} className="h-72 overflow-y-auto rounded-md bg-black/60 p-2 font-mono text-xs leading-5">
        {shown.length === 0 ? (
          <p className="text-slate-500">{lines.length > 0 ? "No line matches." : cleared ? "Cleared; new lines will show here." : "No log lines yet. Invoke the function to see some."}</p>
        ) : (
          shown.map((l) => (
            <div key={l.seq} data-testid="log-line" className="whitespace-pre-wrap break-all">
              <span className="text-slate-500">{clockTime(l.time)}</span> <span className="text-sky-300" title={l.instance}>{shortId(l.instance)}</span>{" "}
              <span className={l.stream === "stderr" ? "text-amber-300" : "text-slate-400"}>{l.stream}</span> <span className="text-slate-100">{l.line}</span>
            </div>
          ))
        )}
      </div>
    </Card>
  );
}
