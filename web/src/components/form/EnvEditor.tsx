import { useFieldArray, useFormContext } from "react-hook-form";
import { Plus, X } from "lucide-react";
import { Button, inputClass } from "../ui";
import type { FormValues } from "./model";

/** Environment variables as rows of name and value. */
export function EnvEditor() {
  const { control, register, formState } = useFormContext<FormValues>();
  const { fields, append, remove } = useFieldArray({ control, name: "env" });
  const listError = formState.errors.root?.envList?.message;
  return (
    <fieldset className="space-y-2" aria-describedby={listError ? "env-error" : undefined}>
      <legend className="text-sm font-medium text-slate-200">Environment variables</legend>
      {fields.length === 0 && <p className="text-xs text-slate-400">None. Functions see only these, PATH, HOME, LANG, TMPDIR, TZ and EventFlow&apos;s own.</p>}
      <ul className="space-y-1.5">
        {fields.map((f, i) => {
          const keyError = formState.errors.env?.[i]?.key?.message;
          return (
            <li key={f.id} className="space-y-1">
              <div className="flex items-center gap-2">
                <label htmlFor={`env-${i}-key`} className="sr-only">
                  Name of variable {i + 1}
                </label>
                <input
                  id={`env-${i}-key`}
                  placeholder="NAME"
                  className={`${inputClass} font-mono`}
                  aria-invalid={Boolean(keyError)}
                  aria-describedby={keyError ? `env-${i}-key-error` : undefined}
                  {...register(`env.${i}.key`)}
                />
                <span aria-hidden className="text-slate-500">
                  =
                </span>
                <label htmlFor={`env-${i}-value`} className="sr-only">
                  Value of variable {i + 1}
                </label>
                <input id={`env-${i}-value`} placeholder="value" className={`${inputClass} font-mono`} {...register(`env.${i}.value`)} />
                <Button variant="ghost" aria-label={`Remove variable ${i + 1}`} onClick={() => remove(i)}>
                  <X aria-hidden className="size-4" />
                </Button>
              </div>
              {keyError && (
                <p id={`env-${i}-key-error`} className="text-sm text-rose-400">
                  {keyError}
                </p>
              )}
            </li>
          );
        })}
      </ul>
      {listError && (
        <p id="env-error" className="text-sm text-rose-400">
          {listError}
        </p>
      )}
      <Button onClick={() => append({ key: "", value: "" })}>
        <Plus aria-hidden className="size-4" /> Add variable
      </Button>
    </fieldset>
  );
}
