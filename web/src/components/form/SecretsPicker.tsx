import { useId, useState, type KeyboardEvent } from "react";
import { useFormContext, useWatch } from "react-hook-form";
import { Plus, X } from "lucide-react";
import { checkName } from "../../lib/validation";
import { Button, inputClass } from "../ui";
import type { FormValues } from "./model";

export const MAX_SECRETS = 32;

interface Props {
  /** The tenant's secrets' names (GET /v1/secrets), offered as suggestions; undefined while unknown. */
  available: string[] | undefined;
}

/**
 * spec.secrets as chips: each named secret with a remove button, and a
 * field (suggesting the tenant's secrets) to add one. A name the tenant has
 * no secret of is marked, and the API refuses it.
 */
export function SecretsPicker({ available }: Props) {
  const { control, setValue, formState, clearErrors } = useFormContext<FormValues>();
  const chosen = useWatch({ control, name: "secrets" });
  const [draft, setDraft] = useState("");
  const [localError, setError] = useState<string>();
  // The API's refusal of spec.secrets (e.g. a name the tenant has no secret of) shows here too.
  const error = localError ?? formState.errors.root?.secrets?.message;
  const listId = useId();
  const known = new Set(available ?? []);
  const offered = (available ?? []).filter((n) => !chosen.includes(n));

  const add = (raw: string) => {
    const name = raw.trim();
    const problem = chosen.includes(name) ? `${name} is already named` : chosen.length >= MAX_SECRETS ? `At most ${MAX_SECRETS} secrets` : checkName(name);
    setError(problem);
    if (problem) return;
    setValue("secrets", [...chosen, name], { shouldDirty: true });
    clearErrors("root.secrets");
    setDraft("");
  };
  const remove = (name: string) => {
    setValue("secrets", chosen.filter((n) => n !== name), { shouldDirty: true });
    clearErrors("root.secrets");
  };
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === "Enter") {
      // Enter adds the secret; it does not send the whole form.
      e.preventDefault();
      if (draft.trim() !== "") add(draft);
    } else if (e.key === "Backspace" && draft === "" && chosen.length > 0) {
      remove(chosen[chosen.length - 1]!);
    }
  };
  const messageId = error ? "secrets-error" : "secrets-hint";

  return (
    <fieldset className="space-y-2" aria-describedby={messageId}>
      <legend className="text-sm font-medium text-slate-200">Secrets</legend>
      {chosen.length > 0 ? (
        <ul aria-label="Secrets the function reads" className="flex flex-wrap gap-1.5">
          {chosen.map((n) => {
            const missing = available !== undefined && !known.has(n);
            return (
              <li key={n} className={`inline-flex items-center gap-1 rounded-full border py-0.5 pl-2.5 pr-1 font-mono text-xs ${missing ? "border-amber-700 text-amber-200" : "border-slate-700 bg-slate-800 text-slate-100"}`}>
                {n}
                {missing && <span className="font-sans text-amber-300">(no such secret)</span>}
                <button type="button" aria-label={`Remove secret ${n}`} onClick={() => remove(n)} className="rounded-full p-0.5 text-slate-400 hover:bg-slate-700 hover:text-white">
                  <X aria-hidden className="size-3.5" />
                </button>
              </li>
            );
          })}
        </ul>
      ) : (
        <p className="text-xs text-slate-400">None.</p>
      )}
      <div className="flex items-center gap-2">
        <label htmlFor="secret-add" className="sr-only">
          Add a secret
        </label>
        <input
          id="secret-add"
          list={listId}
          className={`${inputClass} max-w-xs font-mono`}
          placeholder={offered.length > 0 ? offered.slice(0, 2).join(", ") : "secret name"}
          autoComplete="off"
          value={draft}
          aria-invalid={Boolean(error)}
          aria-describedby={messageId}
          onChange={(e) => {
            setDraft(e.target.value);
            setError(undefined);
          }}
          onKeyDown={onKeyDown}
        />
        <datalist id={listId}>
          {offered.map((n) => (
            <option key={n} value={n} />
          ))}
        </datalist>
        <Button onClick={() => add(draft)} disabled={draft.trim() === ""}>
          <Plus aria-hidden className="size-4" /> Add secret
        </Button>
      </div>
      {error ? (
        <p id="secrets-error" className="text-sm text-rose-400">
          {error}
        </p>
      ) : (
        <p id="secrets-hint" className="text-xs text-slate-400">
          Each is a read-only file named as the secret in <code className="font-mono">$EVENTFLOW_SECRETS_DIR</code>.{" "}
          {available !== undefined && available.length === 0 ? "This tenant has none yet: create them on the Secrets page." : "Manage them on the Secrets page."}
        </p>
      )}
    </fieldset>
  );
}
