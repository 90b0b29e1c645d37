// The bearer token lives in sessionStorage: it lasts as long as the tab and
// is never written to disk by the app. A tiny store lets React and the API
// client (outside React) share it.

const KEY = "eventflow.token";

type Listener = () => void;
const listeners = new Set<Listener>();

/** Why the session last ended, if not by the user: shown on the login page until the next sign-in. */
let signOutReason: string | null = null;

export function getToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setToken(token: string): void {
  sessionStorage.setItem(KEY, token);
  signOutReason = null;
  emit();
}

export function signOut(reason?: string): void {
  sessionStorage.removeItem(KEY);
  signOutReason = reason ?? null;
  emit();
}

export function getSignOutReason(): string | null {
  return signOutReason;
}

export function subscribe(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

function emit(): void {
  for (const l of listeners) l();
}
