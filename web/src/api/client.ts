import createClient, { type Middleware } from "openapi-fetch";
import type { paths } from "./schema";
import { getToken, signOut } from "../auth/session";
import { errorFromResponse } from "./errors";

/**
 * Adds the session's bearer token, and on a 401 to an authenticated request
 * ends the session so the app goes back to the login page with the reason.
 */
const auth: Middleware = {
  onRequest({ request }) {
    const token = getToken();
    if (token && !request.headers.has("Authorization")) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
  async onResponse({ request, response }) {
    if (request.headers.has("Authorization")) await checkAuth(response);
    return response;
  },
};

/** Relative URLs: the console is served by the gateway it talks to. */
function baseUrl(): string {
  return typeof window === "undefined" ? "http://localhost" : window.location.origin;
}

// fetch is looked up on each call, so tests can stub globalThis.fetch.
export const api = createClient<paths>({ baseUrl: baseUrl(), fetch: (req) => globalThis.fetch(req) });
api.use(auth);

/** Headers for the few requests made with fetch directly (streams, raw bodies). */
export function authHeaders(extra: Record<string, string> = {}): Headers {
  const h = new Headers(extra);
  const token = getToken();
  if (token) h.set("Authorization", `Bearer ${token}`);
  return h;
}

/** Ends the session, with the API's reason, when it answered 401; for the client and for direct fetches. */
export async function checkAuth(res: Response): Promise<void> {
  if (res.status === 401) {
    const err = await errorFromResponse(res.clone());
    signOut(`Your token was rejected (${err.message}). Sign in again.`);
  }
}
