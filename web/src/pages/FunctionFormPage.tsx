import { Link, useNavigate, useParams } from "react-router";
import { ArrowLeft } from "lucide-react";
import { useFunction, useSaveFunction } from "../api/queries";
import { errorMessage } from "../api/errors";
import { FunctionForm } from "../components/form/FunctionForm";
import { ErrorAlert } from "../components/ui";
import { useTitle } from "../lib/useTitle";

export function FunctionFormPage() {
  const { name } = useParams();
  return name === undefined ? <CreatePage /> : <EditPage name={name} />;
}

function CreatePage() {
  useTitle("New function");
  const navigate = useNavigate();
  // The create is conditional (If-None-Match: *): the API itself refuses a taken name, beside the field.
  const save = useSaveFunction(null);
  return (
    <div className="space-y-4">
      <BackLink to="/" label="Functions" />
      <h1 className="text-xl font-semibold">New function</h1>
      <FunctionForm onSave={async (spec) => navigate(`/functions/${(await save.mutateAsync(spec)).name}`)} />
    </div>
  );
}

function EditPage({ name }: { name: string }) {
  useTitle(`Edit ${name}`);
  const navigate = useNavigate();
  const fn = useFunction(name, { live: false });
  const save = useSaveFunction(name);
  return (
    <div className="space-y-4">
      <BackLink to={`/functions/${name}`} label={name} />
      <h1 className="text-xl font-semibold">Edit {name}</h1>
      {fn.isError && <ErrorAlert title="Could not load the function" message={errorMessage(fn.error)} />}
      {fn.data && (
        // Keyed by generation: the form starts from the stored spec, not a stale one.
        <FunctionForm key={fn.data.generation} existing={fn.data} onSave={async (spec) => navigate(`/functions/${(await save.mutateAsync(spec)).name}`)} />
      )}
    </div>
  );
}

export function BackLink({ to, label }: { to: string; label: string }) {
  return (
    <Link to={to} className="inline-flex items-center gap-1 rounded text-sm text-slate-400 hover:text-slate-200">
      <ArrowLeft aria-hidden className="size-4" /> {label}
    </Link>
  );
}
