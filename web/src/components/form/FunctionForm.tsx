import { useState } from "react";
import { FormProvider, useForm } from "react-hook-form";
import { Save } from "lucide-react";
import type { FunctionView, SpecInput } from "../../api/types";
import { ApiError, errorMessage } from "../../api/errors";
import { Button, ErrorAlert, Field, describedBy, inputClass } from "../ui";
import { CommandEditor } from "./CommandEditor";
import { EnvEditor } from "./EnvEditor";
import { SecretsPicker } from "./SecretsPicker";
import { emptyForm, formFieldOf, formFromFunction, resolver, toSpec, type FormValues } from "./model";

interface Props {
  /** The function being edited; undefined to create one. */
  existing?: FunctionView | undefined;
  /**
   * Saves the spec; rejects with an ApiError when the API refuses it. A
   * create refused because the name is taken (already_exists) shows beside
   * the name.
   */
  onSave: (spec: SpecInput) => Promise<unknown>;
  /** The tenant's secrets' names, suggested in the Secrets field; undefined while unknown. */
  secretNames?: string[] | undefined;
}

/** Create or edit a function, with the API's rules checked beside each field. */
export function FunctionForm({ existing, onSave, secretNames }: Props) {
  const creating = existing === undefined;
  const methods = useForm<FormValues>({
    defaultValues: existing ? formFromFunction(existing) : emptyForm,
    resolver: resolver(creating),
    mode: "onTouched",
  });
  const { register, handleSubmit, formState, setError, watch } = methods;
  const http = watch("mode") === "http";
  const [refusal, setRefusal] = useState<string>();
  const errors = formState.errors;

  const submit = handleSubmit(async (values) => {
    setRefusal(undefined);
    try {
      await onSave(toSpec(values, existing));
    } catch (err) {
      const field = err instanceof ApiError ? formFieldOf(err.field) : undefined;
      if (field) setError(field, { type: "server", message: errorMessage(err) });
      setRefusal(errorMessage(err));
    }
  });

  return (
    <FormProvider {...methods}>
      <form onSubmit={(e) => void submit(e)} noValidate aria-label={creating ? "New function" : `Edit ${existing.name}`} className="max-w-3xl space-y-5">
        {refusal && <ErrorAlert title="The API refused the function" message={refusal} />}
        <Field id="name" label="Name" error={errors.name?.message} hint="Lower-case letters, digits and '-', at most 63 characters. It cannot be changed later.">
          <input id="name" className={inputClass} disabled={!creating} autoComplete="off" {...describedBy("name", errors.name?.message, true)} {...register("name")} />
        </Field>
        <Field id="image" label="Image" error={errors.image?.message} hint="A container image for Kubernetes; the process runtime records it only. An image or a command is required.">
          <input id="image" className={`${inputClass} font-mono`} placeholder="ghcr.io/acme/upper:1" {...describedBy("image", errors.image?.message, true)} {...register("image")} />
        </Field>
        <CommandEditor />
        <EnvEditor />
        <SecretsPicker available={secretNames} />
        <div className="grid gap-4 sm:grid-cols-3">
          <Field id="mode" label="Mode" error={errors.mode?.message}>
            <select id="mode" className={inputClass} {...describedBy("mode", errors.mode?.message, false)} {...register("mode")}>
              <option value="job">job: one run per invocation</option>
              <option value="http">http: long-running server on $PORT</option>
            </select>
          </Field>
          <Field id="timeout" label="Timeout" error={errors.timeout?.message} hint='e.g. "30s", "2m"; at most 15m'>
            <input id="timeout" className={inputClass} {...describedBy("timeout", errors.timeout?.message, true)} {...register("timeout")} />
          </Field>
        </div>
        {http && (
          <div className="grid gap-4 sm:grid-cols-3">
            <Field id="minInstances" label="Min instances" error={errors.minInstances?.message} hint="0 to 100; 0 scales to zero when idle">
              <input id="minInstances" inputMode="numeric" className={inputClass} {...describedBy("minInstances", errors.minInstances?.message, true)} {...register("minInstances")} />
            </Field>
            <Field id="maxInstances" label="Max instances" error={errors.maxInstances?.message} hint="Up to 100, at least the minimum">
              <input id="maxInstances" inputMode="numeric" className={inputClass} {...describedBy("maxInstances", errors.maxInstances?.message, true)} {...register("maxInstances")} />
            </Field>
          </div>
        )}
        <Button type="submit" variant="primary" disabled={formState.isSubmitting}>
          <Save aria-hidden className="size-4" /> {creating ? "Create function" : "Save changes"}
        </Button>
      </form>
    </FormProvider>
  );
}
