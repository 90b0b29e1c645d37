import { useState } from "react";
import { Link } from "react-router";
import { Plus, Search } from "lucide-react";
import { useFunctions } from "../api/queries";
import { useFunctionListEvents } from "../api/events";
import { errorMessage } from "../api/errors";
import { FunctionsTable } from "../components/FunctionsTable";
import { LiveIndicator } from "../components/LiveIndicator";
import { EmptyState } from "../components/EmptyState";
import { ErrorAlert, inputClass } from "../components/ui";
import { useTitle } from "../lib/useTitle";

export function DashboardPage() {
  useTitle("Functions");
  const stream = useFunctionListEvents();
  const list = useFunctions({ live: stream === "open" });
  const [q, setQ] = useState("");
  const items = list.data ?? [];
  const shown = items.filter((f) => f.name.includes(q.trim().toLowerCase()));

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <div className="flex items-center gap-3">
          <h1 className="text-xl font-semibold">Functions</h1>
          <LiveIndicator state={stream} />
        </div>
        <div className="flex items-center gap-2">
          <div className="relative">
            <Search aria-hidden className="pointer-events-none absolute left-2 top-2 size-4 text-slate-500" />
            <label htmlFor="search" className="sr-only">
              Search functions by name
            </label>
            <input id="search" type="search" placeholder="Search by name" className={`${inputClass} w-56 pl-8`} value={q} onChange={(e) => setQ(e.target.value)} />
          </div>
          <Link to="/functions/new" className="inline-flex items-center gap-1.5 rounded-md bg-sky-500 px-3 py-1.5 text-sm font-medium text-slate-950 hover:bg-sky-400">
            <Plus aria-hidden className="size-4" /> New function
          </Link>
        </div>
      </div>
      {list.isError && <ErrorAlert title="Could not load the functions" message={errorMessage(list.error)} />}
      {list.isPending ? (
        <p className="text-slate-400">Loading functions…</p>
      ) : items.length === 0 ? (
        <EmptyState />
      ) : shown.length === 0 ? (
        <p className="text-slate-400">No function name contains “{q}”.</p>
      ) : (
        <FunctionsTable functions={shown} />
      )}
    </div>
  );
}
