import { useRef, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { KeyRound, Save, Trash2 } from "lucide-react";
import { useDeleteSecret, usePutSecret, useSecrets } from "../api/queries";
import { ApiError, errorMessage } from "../api/errors";
import type { SecretView } from "../api/types";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Button, Card, ErrorAlert, Field, ScrollTable, describedBy, inputClass } from "../components/ui";
import { formatBytes, timeAgo } from "../lib/format";
import { checkName } from "../lib/validation";
import { useNow } from "../lib/useNow";
import { useTitle } from "../lib/useTitle";

/**
 * The tenant's secrets: names, versions, sizes and the functions using them
 * (values are never returned by the API, nor kept here), a form to create
 * or replace one, and a delete that the API refuses while functions use it.
 */
export function SecretsPage() {
  useTitle("Secrets");
  const list = useSecrets();
  const now = useNow(10_000);
  const [deleting, setDeleting] = useState<string | null>(null);
  const nameInput = useRef<HTMLInputElement>(null);
  const valueInput = useRef<HTMLInputElement>(null);
  const [name, setName] = useState("");
  const unavailable = list.error instanceof ApiError && list.error.code === "unavailable";

  const replace = (s: string) => {
    setName(s);
    valueInput.current?.focus();
  };

  return (
    <div className="space-y-4">
      <div className="flex items-center gap-3">
        <h1 className="text-xl font-semibold">Secrets</h1>
      </div>
      <p className="max-w-3xl text-sm text-slate-400">
        A function reads each secret its spec names as a read-only file in <code className="font-mono text-slate-200">$EVENTFLOW_SECRETS_DIR</code>,
        never in its environment. Values are write-only: neither the API nor this page ever shows one back.
      </p>
      {unavailable ? (
        <ErrorAlert title="Secrets are not available" message={errorMessage(list.error)} />
      ) : (
        <SecretForm name={name} setName={setName} existing={list.data ?? []} nameInput={nameInput} valueInput={valueInput} />
      )}
      <Card title="Stored secrets">
        {list.isError && !unavailable && <ErrorAlert title="Could not load the secrets" message={errorMessage(list.error)} />}
        {list.isPending && <p className="text-sm text-slate-400">Loading the secrets…</p>}
        {list.data && list.data.length === 0 && (
          <div className="text-sm">
            <p className="font-medium text-slate-200">No secrets yet</p>
            <p className="text-slate-400">Create one above, then name it in a function&apos;s Secrets.</p>
          </div>
        )}
        {list.data && list.data.length > 0 && (
          <ScrollTable caption="Secrets, by name" columns={["Name", "Version", "Size", "Updated", "Used by", <span className="sr-only">Actions</span>]}>
            {list.data.map((s) => (
              <SecretRow key={s.name} s={s} now={now} onReplace={() => replace(s.name)} onDelete={() => setDeleting(s.name)} />
            ))}
          </ScrollTable>
        )}
      </Card>
      {deleting !== null && <DeleteSecretDialog name={deleting} usedBy={list.data?.find((s) => s.name === deleting)?.usedBy ?? []} onClose={() => setDeleting(null)} />}
    </div>
  );
}

function SecretRow({ s, now, onReplace, onDelete }: { s: SecretView; now: number; onReplace: () => void; onDelete: () => void }) {
  const usedBy = s.usedBy ?? [];
  return (
    <tr data-secret={s.name}>
      <th scope="row" className="px-2 py-1.5 font-mono text-xs font-normal">
        {s.name}
      </th>
      <td className="px-2 py-1.5 tabular-nums" data-testid="secret-version">
        {s.version}
      </td>
      <td className="px-2 py-1.5 tabular-nums">{formatBytes(s.size)}</td>
      <td className="px-2 py-1.5 text-slate-400">
        <time dateTime={s.updatedAt}>{timeAgo(s.updatedAt, now)}</time>
      </td>
      <td className="px-2 py-1.5" data-testid="secret-used-by">
        {usedBy.length === 0 ? (
          <span className="text-slate-500">—</span>
        ) : (
          <ul className="flex flex-wrap gap-1" aria-label={`Functions using ${s.name}`}>
            {usedBy.map((f) => (
              <li key={f}>
                <Link to={`/functions/${f}`} className="rounded font-mono text-xs text-sky-300 hover:underline">
                  {f}
                </Link>
              </li>
            ))}
          </ul>
        )}
      </td>
      <td className="whitespace-nowrap px-2 py-1.5 text-right">
        <Button variant="ghost" aria-label={`Replace the value of ${s.name}`} onClick={onReplace}>
          <KeyRound aria-hidden className="size-4" /> Replace
        </Button>
        <Button variant="ghost" aria-label={`Delete secret ${s.name}`} onClick={onDelete}>
          <Trash2 aria-hidden className="size-4" /> Delete
        </Button>
      </td>
    </tr>
  );
}

interface FormProps {
  name: string;
  setName: (n: string) => void;
  existing: SecretView[];
  nameInput: React.RefObject<HTMLInputElement | null>;
  valueInput: React.RefObject<HTMLInputElement | null>;
}

/**
 * Create or replace. The value field is uncontrolled (its text is never in
 * React state or in an attribute of the page's HTML) and is emptied as soon
 * as the form is sent, whatever the answer.
 */
function SecretForm({ name, setName, existing, nameInput, valueInput }: FormProps) {
  const put = usePutSecret();
  const [nameError, setNameError] = useState<string>();
  const [valueError, setValueError] = useState<string>();
  const [answer, setAnswer] = useState<{ ok: boolean; text: string } | null>(null);
  const replacing = existing.find((s) => s.name === name.trim());

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (put.isPending) return;
    const n = name.trim();
    const el = valueInput.current;
    const value = el?.value ?? "";
    const ne = checkName(n);
    const ve = value === "" ? "A value is required" : undefined;
    setNameError(ne);
    setValueError(ve);
    if (ne) {
      nameInput.current?.focus();
      return;
    }
    if (ve) {
      el?.focus();
      return;
    }
    if (el) el.value = "";
    setAnswer(null);
    put.mutate(
      { name: n, value },
      {
        onSuccess: (s) => {
          const rolled = s.usedBy && s.usedBy.length > 0 ? `; rolling ${s.usedBy.join(", ")}` : "";
          setAnswer({ ok: true, text: `Saved ${s.name}: version ${s.version}${rolled}.` });
          setName("");
        },
        onError: (err) => {
          if (err instanceof ApiError && err.code === "validation_failed" && /name/.test(err.message)) setNameError(err.message);
          setAnswer({ ok: false, text: errorMessage(err) });
        },
        // The value leaves the mutation's state as soon as the answer is in.
        onSettled: () => put.reset(),
      },
    );
  };

  return (
    <Card title="Create or replace a secret">
      <form onSubmit={submit} noValidate aria-label="Create or replace a secret" className="space-y-4">
        <div className="grid gap-4 sm:grid-cols-2">
          <Field id="secret-name" label="Secret name" error={nameError} hint="Lower-case letters, digits and '-'; the file's name in the function's secrets directory.">
            <input
              ref={nameInput}
              id="secret-name"
              className={`${inputClass} font-mono`}
              autoComplete="off"
              value={name}
              onChange={(e) => setName(e.target.value)}
              {...describedBy("secret-name", nameError, true)}
            />
          </Field>
          <Field
            id="secret-value"
            label="Value"
            error={valueError}
            hint={replacing ? `Replaces version ${replacing.version}; every function using it rolls to the new value.` : "Write-only: it is never shown again."}
          >
            <input
              ref={valueInput}
              id="secret-value"
              type="password"
              className={`${inputClass} font-mono`}
              autoComplete="new-password"
              spellCheck={false}
              {...describedBy("secret-value", valueError, true)}
            />
          </Field>
        </div>
        <div className="flex flex-wrap items-center gap-3">
          <Button type="submit" variant="primary" aria-disabled={put.isPending}>
            <Save aria-hidden className="size-4" /> {put.isPending ? "Saving…" : replacing ? "Replace secret" : "Create secret"}
          </Button>
          <p role="status" className="text-sm text-emerald-300 empty:hidden" data-testid="secret-answer">
            {answer?.ok ? answer.text : ""}
          </p>
        </div>
        {answer && !answer.ok && <ErrorAlert title="The secret was not saved" message={answer.text} />}
      </form>
    </Card>
  );
}

function DeleteSecretDialog({ name, usedBy, onClose }: { name: string; usedBy: string[]; onClose: () => void }) {
  const del = useDeleteSecret();
  return (
    <ConfirmDialog title={`Delete secret ${name}?`} confirmLabel="Delete secret" busy={del.isPending} onCancel={onClose} onConfirm={() => del.mutate(name, { onSuccess: onClose })}>
      <p>
        Its value is deleted for good.
        {usedBy.length > 0 && ` The API refuses while functions use it (${usedBy.join(", ")}): take it out of their specs first.`}
      </p>
      {del.isError && <ErrorAlert title="Not deleted" message={errorMessage(del.error)} />}
    </ConfirmDialog>
  );
}
