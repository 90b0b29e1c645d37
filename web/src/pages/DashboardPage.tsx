import { useState } from "react";
import { Plus, Search } from "lucide-react";
import { useFunctions } from "../api/queries";
import { useFunctionListEvents } from "../api/events";
import { errorMessage } from "../api/errors";
import type { FunctionView } from "../api/types";
import { FunctionsTable } from "../components/FunctionsTable";
import { LiveIndicator } from "../components/LiveIndicator";
import { EmptyState } from "../components/EmptyState";
import { ErrorAlert, LinkButton, inputClass } from "../components/ui";
import { useTitle } from "../lib/useTitle";
import { useNow } from "../lib/useNow";

export function DashboardPage() {
  useTitle("Functions");
  const stream = useFunctionListEvents();
  const list = useFunctions({ live: stream === "open" });
  const [q, setQ] = useState("");

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <div className="flex items-center gap-3">
          <h1 className="text-xl font-semibold">Functions</h1>
          <LiveIndicator state={stream} polling />
        </div>
        <div className="flex items-center gap-2">
          <div className="relative">
            <Search aria-hidden className="pointer-events-none absolute left-2 top-2 size-4 text-slate-500" />
            <label htmlFor="search" className="sr-only">
              Search functions by name
            </label>
            <input id="search" type="search" placeholder="Search by name" className={`${inputClass} w-56 pl-8`} value={q} onChange={(e) => setQ(e.target.value)} />
          </div>
          <LinkButton to="/functions/new" variant="primary">
            <Plus aria-hidden className="size-4" /> New function
          </LinkButton>
        </div>
      </div>
      {list.isError && <ErrorAlert title="Could not load the functions" message={errorMessage(list.error)} />}
      {list.data ? <FunctionList items={list.data} query={q} /> : list.isPending && <p className="text-slate-400">Loading functions…</p>}
    </div>
  );
}

/** The table, or what to say when there is nothing to show. */
function FunctionList({ items, query }: { items: FunctionView[]; query: string }) {
  // "12s ago" keeps counting between refetches.
  const now = useNow(10_000);
  if (items.length === 0) return <EmptyState />;
  const needle = query.trim().toLowerCase();
  const shown = items.filter((f) => f.name.includes(needle));
  if (shown.length === 0) return <p className="text-slate-400">No function name contains “{query.trim()}”.</p>;
  return <FunctionsTable functions={shown} now={now} />;
}
