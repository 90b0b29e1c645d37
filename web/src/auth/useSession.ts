import { useSyncExternalStore } from "react";
import { getToken, subscribe } from "./session";

/** The session's token, re-rendering when it is set or cleared. */
export function useToken(): string | null {
  return useSyncExternalStore(subscribe, getToken, getToken);
}

/** The tenant a token acts for, read from its claims for display only (the server checks it). */
export function tenantOf(token: string | null): string | undefined {
  const part = token?.split(".")[1];
  if (!part) return undefined;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const claims = JSON.parse(json) as { tenant?: unknown };
    return typeof claims.tenant === "string" ? claims.tenant : undefined;
  } catch {
    return undefined;
  }
}
