import { useState, type FormEvent } from "react";
import { Navigate, useLocation, useNavigate } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { KeyRound, Wand2, Zap } from "lucide-react";
import { setToken, getSignOutReason } from "../auth/session";
import { useToken } from "../auth/useSession";
import { issueToken } from "../api/queries";
import { ApiError, errorMessage } from "../api/errors";
import { checkTenant } from "../lib/validation";
import { Button, ErrorAlert, Field, describedBy, inputClass } from "../components/ui";

export function LoginPage() {
  const token = useToken();
  const location = useLocation();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const asked = (location.state as { from?: unknown } | null)?.from;
  const from = typeof asked === "string" ? asked : "/";
  const [reason] = useState(getSignOutReason);

  const signIn = (t: string) => {
    qc.clear(); // nothing of a previous tenant may show
    setToken(t);
    void navigate(from, { replace: true });
  };

  if (token) return <Navigate to={from} replace />;
  return (
    <main className="flex min-h-screen items-center justify-center p-4">
      <div className="w-full max-w-md space-y-6">
        <h1 className="flex items-center justify-center gap-2 text-2xl font-semibold">
          <Zap aria-hidden className="size-6 text-sky-400" /> EventFlow console
        </h1>
        {reason && <ErrorAlert title="Signed out" message={reason} />}
        <TokenForm onToken={signIn} />
        <DevTokenForm onToken={signIn} />
      </div>
    </main>
  );
}

function TokenForm({ onToken }: { onToken: (t: string) => void }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState<string>();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const t = value.trim().replace(/^Bearer\s+/i, "");
    if (t === "") return setError("Paste a token");
    onToken(t);
  };
  return (
    <form onSubmit={submit} aria-labelledby="token-form-title" className="space-y-3 rounded-lg border border-slate-800 bg-slate-900/60 p-4">
      <h2 id="token-form-title" className="font-medium">
        Sign in with a token
      </h2>
      <Field id="token" label="Bearer token" error={error} hint={
          <>
            A JWT from your administrator or <code>eventflow token</code>; kept for this browser tab only.
          </>
        }>
        <input id="token" type="password" autoComplete="off" className={inputClass} value={value} onChange={(e) => setValue(e.target.value)} {...describedBy("token", error, true)} />
      </Field>
      <Button type="submit" variant="primary">
        <KeyRound aria-hidden className="size-4" /> Sign in
      </Button>
    </form>
  );
}

function DevTokenForm({ onToken }: { onToken: (t: string) => void }) {
  const [tenant, setTenant] = useState("demo");
  const [error, setError] = useState<string>();
  const [apiError, setApiError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const invalid = checkTenant(tenant);
    setError(invalid);
    setApiError(undefined);
    if (invalid) return;
    setBusy(true);
    try {
      onToken(await issueToken(tenant));
    } catch (err) {
      setApiError(err instanceof ApiError && err.status === 404 ? "This gateway does not issue development tokens: sign in with a token." : errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={(e) => void submit(e)} aria-labelledby="dev-form-title" className="space-y-3 rounded-lg border border-slate-800 bg-slate-900/60 p-4">
      <h2 id="dev-form-title" className="font-medium">
        Development token
      </h2>
      <p className="text-sm text-slate-400">
        Under <code>eventflow dev</code> the gateway issues a token for any tenant.
      </p>
      <Field id="tenant" label="Tenant" error={error}>
        <input id="tenant" className={inputClass} value={tenant} onChange={(e) => setTenant(e.target.value)} {...describedBy("tenant", error, false)} />
      </Field>
      {apiError && <ErrorAlert title="No token" message={apiError} />}
      <Button type="submit" disabled={busy}>
        <Wand2 aria-hidden className="size-4" /> Get a development token
      </Button>
    </form>
  );
}
