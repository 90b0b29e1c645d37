import { useNavigate, useParams } from "react-router";
import { useFunction, useSaveFunction, useSecrets } from "../api/queries";
import { errorMessage } from "../api/errors";
import type { SpecInput } from "../api/types";
import { FunctionForm } from "../components/form/FunctionForm";
import { BackLink, ErrorAlert } from "../components/ui";
import { useTitle } from "../lib/useTitle";

export function FunctionFormPage() {
  const { name } = useParams();
  return name === undefined ? <CreatePage /> : <EditPage key={name} name={name} />;
}

/** Saves the spec (create when existing is null), then shows the function. */
function useSaveAndShow(existing: string | null): (spec: SpecInput) => Promise<void> {
  const navigate = useNavigate();
  const save = useSaveFunction(existing);
  return async (spec) => navigate(`/functions/${(await save.mutateAsync(spec)).name}`);
}

/** The tenant's secrets' names for the form's suggestions; undefined while unknown (or if secrets are not configured). */
function useSecretNames(): string[] | undefined {
  const secrets = useSecrets();
  return secrets.data?.map((s) => s.name);
}

function CreatePage() {
  useTitle("New function");
  // The create is conditional (If-None-Match: *): the API itself refuses a taken name, beside the field.
  const onSave = useSaveAndShow(null);
  const secretNames = useSecretNames();
  return (
    <div className="space-y-4">
      <BackLink to="/" label="Functions" />
      <h1 className="text-xl font-semibold">New function</h1>
      <FunctionForm onSave={onSave} secretNames={secretNames} />
    </div>
  );
}

function EditPage({ name }: { name: string }) {
  useTitle(`Edit ${name}`);
  const fn = useFunction(name, { live: false, poll: false });
  const onSave = useSaveAndShow(name);
  const secretNames = useSecretNames();
  return (
    <div className="space-y-4">
      <BackLink to={`/functions/${name}`} label={name} />
      <h1 className="text-xl font-semibold">Edit {name}</h1>
      {fn.isError && <ErrorAlert title="Could not load the function" message={errorMessage(fn.error)} />}
      {fn.data ? (
        // Keyed by generation: the form starts from the stored spec, not a stale one.
        <FunctionForm key={fn.data.generation} existing={fn.data} onSave={onSave} secretNames={secretNames} />
      ) : (
        fn.isPending && <p className="text-slate-400">Loading…</p>
      )}
    </div>
  );
}
