import { useState } from "react";
import { useParams } from "react-router";
import { Pencil } from "lucide-react";
import { useFunction, useInvocations } from "../api/queries";
import { useFunctionEvents } from "../api/events";
import { ApiError, errorMessage } from "../api/errors";
import { LiveIndicator } from "../components/LiveIndicator";
import { StatusPanel } from "../components/details/StatusPanel";
import { EventsTimeline } from "../components/details/EventsTimeline";
import { LogsPanel } from "../components/details/LogsPanel";
import { InvokePanel } from "../components/details/InvokePanel";
import { HistoryTable } from "../components/details/HistoryTable";
import { DeadLettersPanel } from "../components/details/DeadLettersPanel";
import { Charts } from "../components/details/Charts";
import { DeleteFunction } from "../components/details/DeleteFunction";
import { RoutePanel } from "../components/details/RoutePanel";
import { ScalePanel } from "../components/details/ScalePanel";
import { TriggersPanel } from "../components/details/TriggersPanel";
import { RevisionsPanel } from "../components/details/RevisionsPanel";
import { RolloutPanel } from "../components/details/RolloutPanel";
import { BackLink, Card, ErrorAlert, LinkButton } from "../components/ui";
import { useTitle } from "../lib/useTitle";
import { useNow } from "../lib/useNow";

export function FunctionDetailsPage() {
  const { name = "" } = useParams();
  // Keyed by name: another function's page starts afresh (its logs, events and invoke result are not this one's).
  return <FunctionDetails key={name} name={name} />;
}

function FunctionDetails({ name }: { name: string }) {
  useTitle(name);
  const events = useFunctionEvents(name);
  const live = events.state === "open";
  const [leaving, setLeaving] = useState(false);
  const fn = useFunction(name, { live, enabled: !leaving });
  const history = useInvocations(name, { live, enabled: !leaving });
  // Relative times and the charts' window: now, or the latest fetch if that is later.
  const now = Math.max(useNow(10_000), history.dataUpdatedAt);

  if (fn.isError && fn.error instanceof ApiError && fn.error.status === 404) {
    return (
      <div className="space-y-4">
        <BackLink to="/" label="Functions" />
        <ErrorAlert title={`No function named ${name}`} message="It does not exist, or it was deleted." />
      </div>
    );
  }
  const f = fn.data;
  const deleting = f?.status.phase === "Deleting";
  return (
    <div className="space-y-4">
      <BackLink to="/" label="Functions" />
      <div className="flex flex-wrap items-center justify-between gap-3">
        <div className="flex items-center gap-3">
          <h1 className="font-mono text-xl font-semibold">{name}</h1>
          <LiveIndicator state={events.state} polling />
        </div>
        <div className="flex gap-2">
          <LinkButton to={`/functions/${name}/edit`}>
            <Pencil aria-hidden className="size-4" /> Edit
          </LinkButton>
          <DeleteFunction name={name} disabled={!f || deleting} onLeaving={setLeaving} />
        </div>
      </div>
      {fn.isError && <ErrorAlert title="Could not load the function" message={errorMessage(fn.error)} />}
      {f ? (
        <>
          <div className="grid gap-4 lg:grid-cols-2">
            <StatusPanel fn={f} now={now} />
            <EventsTimeline events={events.events} since={f.createdAt} />
          </div>
          {f.status.rollout && <RolloutPanel rollout={f.status.rollout} now={now} />}
          <ScalePanel fn={f} now={now} />
          {f.invocation.mode === "http" && f.status.url && <RoutePanel fn={f} />}
          <TriggersPanel fn={f} now={now} />
          <div className="grid gap-4 lg:grid-cols-2">
            <InvokePanel name={name} disabled={deleting} />
            <LogsPanel name={name} />
          </div>
          <Card title="Invocations">
            {history.isError && <ErrorAlert title="Could not load the history" message={errorMessage(history.error)} />}
            {history.data ? (
              <div className="space-y-4">
                <Charts items={history.data} now={now} />
                <HistoryTable items={history.data} now={now} />
              </div>
            ) : (
              history.isPending && <p className="text-sm text-slate-400">Loading the history…</p>
            )}
          </Card>
          <DeadLettersPanel name={name} live={live} enabled={!leaving} now={now} />
          <RevisionsPanel name={name} current={f.generation} traffic={f.traffic} rollout={f.status.rollout} live={live} enabled={!leaving} now={now} />
        </>
      ) : (
        fn.isPending && <p className="text-slate-400">Loading…</p>
      )}
    </div>
  );
}
