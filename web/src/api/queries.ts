// Server state: every read goes through TanStack Query with these keys, so
// live events only need to invalidate the right key.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "./client";
import { toApiError } from "./errors";
import { toWireSpec, type DeadLetter, type FunctionView, type InvocationRecord, type Revision, type SecretView, type SpecInput } from "./types";

export const keys = {
  functions: ["functions"] as const,
  fn: (name: string) => ["functions", name] as const,
  invocations: (name: string) => ["functions", name, "invocations"] as const,
  invocation: (id: string) => ["invocations", id] as const,
  deadLetters: (name: string) => ["functions", name, "dead-letters"] as const,
  revisions: (name: string) => ["functions", name, "revisions"] as const,
  secrets: ["secrets"] as const,
};

/** openapi-fetch gives { data, error, response }: this keeps the data or throws an ApiError. */
function unwrap<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.error !== undefined || r.data === undefined) throw toApiError(r.response.status, r.error);
  return r.data;
}

export function useFunctions(opts: { live: boolean }) {
  return useQuery({
    queryKey: keys.functions,
    queryFn: async ({ signal }) => unwrap(await api.GET("/v1/functions", { signal })).items,
    // With the events stream open, polling is only a safety net.
    refetchInterval: opts.live ? 30_000 : 3_000,
  });
}

/** poll: false reads it once (and on focus), for a page that must not change under the user, like the edit form. */
export function useFunction(name: string, opts: { live: boolean; enabled?: boolean; poll?: boolean }) {
  return useQuery({
    queryKey: keys.fn(name),
    enabled: opts.enabled ?? true,
    queryFn: async ({ signal }) => unwrap(await api.GET("/v1/functions/{name}", { params: { path: { name } }, signal })),
    refetchInterval: opts.poll === false ? false : opts.live ? 30_000 : 3_000,
  });
}

const HISTORY_LIMIT = 200;

export function useInvocations(name: string, opts: { live: boolean; enabled?: boolean }) {
  return useQuery({
    queryKey: keys.invocations(name),
    enabled: opts.enabled ?? true,
    queryFn: async ({ signal }): Promise<InvocationRecord[]> =>
      unwrap(await api.GET("/v1/functions/{name}/invocations", { params: { path: { name }, query: { limit: HISTORY_LIMIT } }, signal })).items,
    refetchInterval: opts.live ? 30_000 : 5_000,
  });
}

export function useDeadLetters(name: string, opts: { live: boolean; enabled?: boolean }) {
  return useQuery({
    queryKey: keys.deadLetters(name),
    enabled: opts.enabled ?? true,
    queryFn: async ({ signal }): Promise<DeadLetter[]> =>
      unwrap(await api.GET("/v1/functions/{name}/dead-letters", { params: { path: { name } }, signal })).items,
    refetchInterval: opts.live ? 30_000 : 5_000,
  });
}

/**
 * Queues dead letters again: the given ids, or all of them with null (a body
 * without ids, the API's "all" form). Answers the ids redriven; the dead
 * letters and the history are read again either way.
 */
export function useRedrive(name: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (ids: string[] | null): Promise<string[]> => {
      // An empty selection redrives nothing, without asking (the API refuses an empty ids list).
      if (ids !== null && ids.length === 0) return [];
      return unwrap(await api.POST("/v1/functions/{name}/dead-letters/redrive", { params: { path: { name } }, body: ids === null ? {} : { ids } })).redriven;
    },
    onSettled: () => {
      void qc.invalidateQueries({ queryKey: keys.deadLetters(name), exact: true });
      void qc.invalidateQueries({ queryKey: keys.invocations(name), exact: true });
    },
  });
}

const FINAL = new Set(["succeeded", "failed", "dead_lettered"]);

/** One invocation's record, polled until it reaches a final status. */
export function useInvocation(id: string | null) {
  return useQuery({
    queryKey: keys.invocation(id ?? ""),
    enabled: id !== null,
    queryFn: async ({ signal }) => unwrap(await api.GET("/v1/invocations/{id}", { params: { path: { id: id ?? "" } }, signal })),
    refetchInterval: (q) => (q.state.data && FINAL.has(q.state.data.status) ? false : 1_000),
  });
}

export function useSaveFunction(existing: string | null) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (spec: SpecInput): Promise<FunctionView> =>
      existing === null
        ? // If-None-Match: * makes POST create only: a taken name is 412 already_exists, never replaced.
          unwrap(await api.POST("/v1/functions", { params: { header: { "If-None-Match": "*" } }, body: toWireSpec(spec) }))
        : unwrap(await api.PUT("/v1/functions/{name}", { params: { path: { name: existing } }, body: toWireSpec(spec) })),
    onSuccess: (fn) => {
      qc.setQueryData(keys.fn(fn.name), fn);
      void qc.invalidateQueries({ queryKey: keys.functions, exact: true });
      // A saved spec is a new revision, and changes which secrets are used.
      void qc.invalidateQueries({ queryKey: keys.revisions(fn.name), exact: true });
      void qc.invalidateQueries({ queryKey: keys.secrets, exact: true });
    },
  });
}

export function useDeleteFunction() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (name: string) => unwrap(await api.DELETE("/v1/functions/{name}", { params: { path: { name } } })),
    onSuccess: (fn) => {
      qc.setQueryData<FunctionView[]>(keys.functions, (list) => list?.map((f) => (f.name === fn.name ? fn : f)));
      void qc.invalidateQueries({ queryKey: keys.functions, exact: true });
    },
  });
}

/** The tenant's secrets (names and metadata; values are never returned), by name. */
export function useSecrets(opts: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: keys.secrets,
    enabled: opts.enabled ?? true,
    queryFn: async ({ signal }): Promise<SecretView[]> => unwrap(await api.GET("/v1/secrets", { signal })).items,
    refetchInterval: 15_000,
  });
}

/**
 * Creates or replaces a secret's value (201 or 200). Replacing rolls every
 * function that uses it, so their revisions are read again too.
 */
export function usePutSecret() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async ({ name, value }: { name: string; value: string }): Promise<SecretView> =>
      unwrap(await api.PUT("/v1/secrets/{name}", { params: { path: { name } }, body: { value } })),
    onSuccess: (s) => {
      for (const fn of s.usedBy ?? []) {
        void qc.invalidateQueries({ queryKey: keys.fn(fn) });
      }
    },
    onSettled: () => void qc.invalidateQueries({ queryKey: keys.secrets, exact: true }),
  });
}

/** Deletes a secret; the API refuses (409) while functions use it, naming them. */
export function useDeleteSecret() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (name: string): Promise<void> => {
      // 204: no body to unwrap.
      const r = await api.DELETE("/v1/secrets/{name}", { params: { path: { name } } });
      if (!r.response.ok) throw toApiError(r.response.status, r.error);
    },
    onSuccess: (_, name) => qc.setQueryData<SecretView[]>(keys.secrets, (list) => list?.filter((s) => s.name !== name)),
    onSettled: () => void qc.invalidateQueries({ queryKey: keys.secrets, exact: true }),
  });
}

/** A function's revisions, newest first. */
export function useRevisions(name: string, opts: { live: boolean; enabled?: boolean }) {
  return useQuery({
    queryKey: keys.revisions(name),
    enabled: opts.enabled ?? true,
    queryFn: async ({ signal }): Promise<Revision[]> =>
      unwrap(await api.GET("/v1/functions/{name}/revisions", { params: { path: { name } }, signal })).items,
    refetchInterval: opts.live ? 30_000 : 10_000,
  });
}

/** Makes an earlier revision's spec current again, as a new revision (202), or nothing when it already is (200). */
export function useRollback(name: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (revision: number): Promise<FunctionView> =>
      unwrap(await api.POST("/v1/functions/{name}:rollback", { params: { path: { name } }, body: { revision } })),
    onSuccess: (fn) => {
      qc.setQueryData(keys.fn(name), fn);
      void qc.invalidateQueries({ queryKey: keys.functions, exact: true });
    },
    onSettled: () => {
      void qc.invalidateQueries({ queryKey: keys.revisions(name), exact: true });
      void qc.invalidateQueries({ queryKey: keys.fn(name), exact: true });
    },
  });
}

export async function issueToken(tenant: string): Promise<string> {
  return unwrap(await api.POST("/auth/token", { body: { tenant } })).token;
}
