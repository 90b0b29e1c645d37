import type { InvocationRecord } from "../../api/types";
import { bucketize, summarize, type Bucket } from "../../lib/stats";
import { formatMs } from "../../lib/format";

const BUCKETS = 30;
const WIDTH_MS = 60_000;

/** Invocations, error rate and latency per minute over the last half hour, from the history. */
export function Charts({ items, now }: { items: InvocationRecord[]; now: number }) {
  const buckets = bucketize(items, now, WIDTH_MS, BUCKETS);
  const sum = summarize(items);
  return (
    <div className="space-y-4">
      <dl className="grid grid-cols-2 gap-3 text-sm sm:grid-cols-4">
        <Stat label="Invocations" value={String(sum.total)} />
        <Stat label="Error rate" value={sum.errorRate === undefined ? "—" : `${(sum.errorRate * 100).toFixed(1)}%`} />
        <Stat label="p50 latency" value={formatMs(sum.p50Ms)} />
        <Stat label="p95 latency" value={formatMs(sum.p95Ms)} />
      </dl>
      <div className="grid gap-4 sm:grid-cols-3">
        <BarChart title="Invocations per minute" buckets={buckets} value={(b) => b.total} format={(v) => String(v)} tone="fill-sky-400" />
        <BarChart
          title="Error rate per minute"
          buckets={buckets}
          value={(b) => (b.total === 0 ? undefined : b.failed / b.total)}
          format={(v) => `${Math.round(v * 100)}%`}
          max={1}
          tone="fill-rose-400"
        />
        <BarChart title="Mean latency per minute" buckets={buckets} value={(b) => b.meanMs} format={formatMs} tone="fill-emerald-400" />
      </div>
    </div>
  );
}

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div className="rounded-md bg-slate-950/60 p-2">
      <dt className="text-xs text-slate-400">{label}</dt>
      <dd className="text-lg font-semibold tabular-nums">{value}</dd>
    </div>
  );
}

interface BarChartProps {
  title: string;
  buckets: Bucket[];
  value: (b: Bucket) => number | undefined;
  format: (v: number) => string;
  max?: number;
  tone: string;
}

const W = 240;
const H = 64;

/** A small SVG bar chart; each bar has a <title> with its minute and value. */
function BarChart({ title, buckets, value, format, max, tone }: BarChartProps) {
  const values = buckets.map(value);
  const top = max ?? Math.max(0, ...values.map((v) => v ?? 0));
  const bw = W / buckets.length;
  const last = values.filter((v): v is number => v !== undefined).at(-1);
  return (
    <figure className="rounded-md bg-slate-950/60 p-2">
      <figcaption className="mb-1 flex justify-between text-xs text-slate-400">
        <span>{title}</span>
        <span className="tabular-nums">{last === undefined ? "—" : format(last)}</span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}, last 30 minutes`} className="h-16 w-full" preserveAspectRatio="none">
        <line x1={0} y1={H - 0.5} x2={W} y2={H - 0.5} className="stroke-slate-700" strokeWidth={1} />
        {values.map((v, i) => {
          if (v === undefined || v === 0 || top === 0) return null;
          const h = Math.max(1, (v / top) * (H - 4));
          const b = buckets[i];
          return (
            <rect key={i} x={i * bw + 1} y={H - h} width={bw - 2} height={h} className={tone}>
              <title>{`${b ? new Date(b.start).toLocaleTimeString([], { hour12: false, hour: "2-digit", minute: "2-digit" }) : ""}: ${format(v)}`}</title>
            </rect>
          );
        })}
      </svg>
    </figure>
  );
}
