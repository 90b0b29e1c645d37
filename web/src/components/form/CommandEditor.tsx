import { useFieldArray, useFormContext, useWatch } from "react-hook-form";
import { Plus, X } from "lucide-react";
import { joinCommandLine, splitCommandLine } from "../../lib/argv";
import { Button, inputClass } from "../ui";
import { argvOf, type FormValues } from "./model";

/**
 * The command as argv: either one field per argument, or a shell-like line
 * whose split is shown as chips, so what will run is never a guess.
 */
export function CommandEditor() {
  const { control, setValue, getValues, formState } = useFormContext<FormValues>();
  const style = useWatch({ control, name: "commandStyle" });
  const error = formState.errors.root?.command?.message;
  const messageId = error ? "command-error" : "command-hint";

  const switchTo = (next: FormValues["commandStyle"]) => {
    if (next === style) return;
    const { argv } = argvOf(getValues());
    if (next === "line") setValue("line", joinCommandLine(argv));
    else setValue("args", argv.length > 0 ? argv.map((value) => ({ value })) : [{ value: "" }]);
    setValue("commandStyle", next);
  };

  return (
    <fieldset className="space-y-2" aria-describedby={messageId}>
      <legend className="text-sm font-medium text-slate-200">Command</legend>
      <div role="radiogroup" aria-label="How to enter the command" className="flex gap-4 text-sm text-slate-300">
        <label className="flex items-center gap-1.5">
          <input type="radio" name="command-style" checked={style === "line"} onChange={() => switchTo("line")} /> Shell-like line
        </label>
        <label className="flex items-center gap-1.5">
          <input type="radio" name="command-style" checked={style === "args"} onChange={() => switchTo("args")} /> One field per argument
        </label>
      </div>
      {style === "line" ? (
        <LineInput invalid={Boolean(error)} describedBy={messageId} />
      ) : (
        <ArgFields invalid={Boolean(error)} describedBy={messageId} />
      )}
      {error ? (
        <p id="command-error" className="text-sm text-rose-400">
          {error}
        </p>
      ) : (
        <p id="command-hint" className="text-xs text-slate-400">
          The program and its arguments; no shell runs it. In job mode the payload is its stdin and its stdout is the answer.
        </p>
      )}
    </fieldset>
  );
}

interface InputProps {
  invalid: boolean;
  /** The id of the command's error or hint, read with each input. */
  describedBy: string;
}

function LineInput({ invalid, describedBy }: InputProps) {
  const { register } = useFormContext<FormValues>();
  const line = useWatch<FormValues, "line">({ name: "line" });
  const split = splitCommandLine(line ?? "");
  return (
    <div className="space-y-2">
      <label htmlFor="command-line" className="sr-only">
        Command line
      </label>
      <input id="command-line" className={`${inputClass} font-mono`} placeholder="tr a-z A-Z" aria-invalid={invalid} aria-describedby={describedBy} {...register("line")} />
      {split.ok && split.argv.length > 0 && (
        <ol aria-label="Arguments (argv)" className="flex flex-wrap gap-1.5">
          {split.argv.map((a, i) => (
            <li key={i} data-testid="argv-chip" className="rounded bg-slate-800 px-2 py-0.5 font-mono text-xs text-slate-200 ring-1 ring-slate-700">
              <span className="sr-only">argument {i + 1}: </span>
              {a === "" ? <span className="text-slate-500">(empty)</span> : a}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

function ArgFields({ invalid, describedBy }: InputProps) {
  const { control, register } = useFormContext<FormValues>();
  const { fields, append, remove } = useFieldArray({ control, name: "args" });
  return (
    <div className="space-y-2">
      <ol className="space-y-1.5">
        {fields.map((f, i) => (
          <li key={f.id} className="flex items-center gap-2">
            <label htmlFor={`arg-${i}`} className="w-24 shrink-0 text-xs text-slate-400">
              {i === 0 ? "Program" : `Argument ${i}`}
            </label>
            <input id={`arg-${i}`} className={`${inputClass} font-mono`} aria-invalid={invalid && i === 0} aria-describedby={i === 0 ? describedBy : undefined} {...register(`args.${i}.value`)} />
            <Button variant="ghost" aria-label={`Remove ${i === 0 ? "program" : `argument ${i}`}`} onClick={() => remove(i)} disabled={fields.length === 1}>
              <X aria-hidden className="size-4" />
            </Button>
          </li>
        ))}
      </ol>
      <Button onClick={() => append({ value: "" })}>
        <Plus aria-hidden className="size-4" /> Add argument
      </Button>
    </div>
  );
}
