import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { renderApp } from "../test/render";
import { apiError, fakeApi, json, openSse } from "../test/fakeApi";
import { functionView } from "../test/fixtures";
import { setToken } from "../auth/session";

const ready = functionView("shout", { status: { phase: "Ready", readyReplicas: 0, observedGeneration: 1 } });

describe("function details page", () => {
  it("shows the status and the invocation history", async () => {
    setToken("t");
    fakeApi({
      "GET /v1/functions/shout": () => json(200, ready),
      "GET /v1/functions/shout/invocations": () =>
        json(200, {
          items: [
            { id: "c".repeat(32), tenant: "demo", function: "shout", async: false, status: "failed", attempts: 1, createdAt: new Date().toISOString(), durationMs: 40, error: "exit status 3" },
            { id: "d".repeat(32), tenant: "demo", function: "shout", async: true, status: "succeeded", attempts: 1, createdAt: new Date().toISOString(), durationMs: 10 },
          ],
        }),
    });
    renderApp("/functions/shout");
    const status = await screen.findByRole("region", { name: "Status" });
    expect(within(status).getByTestId("phase")).toHaveTextContent("Ready");
    const history = await screen.findByRole("table", { name: /Invocation history/ });
    const rows = within(history).getAllByRole("row").slice(1);
    expect(rows.map((r) => within(r).getAllByRole("cell")[0]?.textContent)).toEqual(["failed", "succeeded"]);
    expect(rows[0]).toHaveTextContent("exit status 3");
    expect(rows[1]).toHaveTextContent("async");
    expect(screen.getByText("Error rate").nextElementSibling).toHaveTextContent("50.0%");
  });

  it("deletes only once confirmed, then goes back to the dashboard", async () => {
    setToken("t");
    const api = fakeApi({
      "GET /v1/functions/shout": () => json(200, ready),
      "GET /v1/functions/shout/invocations": () => json(200, { items: [] }),
      "DELETE /v1/functions/shout": () => json(202, { ...ready, status: { ...ready.status, phase: "Deleting" } }),
      "GET /v1/functions": () => json(200, { items: [] }),
    });
    const user = userEvent.setup();
    renderApp("/functions/shout");
    const del = await screen.findByRole("button", { name: "Delete" });
    await user.click(del);
    await user.click(within(screen.getByRole("dialog", { name: "Delete shout?" })).getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(del).toHaveFocus();
    expect(api.calls.some((c) => c.method === "DELETE")).toBe(false);

    await user.click(del);
    await user.click(screen.getByRole("button", { name: "Delete function" }));
    expect(await screen.findByRole("heading", { name: "No functions yet" })).toBeInTheDocument();
    expect(api.calls.filter((c) => c.method === "DELETE")).toHaveLength(1);
  });

  it("keeps the dialog open with the API's reason when the delete is refused", async () => {
    setToken("t");
    fakeApi({
      "GET /v1/functions/shout": () => json(200, ready),
      "GET /v1/functions/shout/invocations": () => json(200, { items: [] }),
      "DELETE /v1/functions/shout": () => apiError(403, "forbidden", "the token lacks functions:write"),
    });
    const user = userEvent.setup();
    renderApp("/functions/shout");
    await user.click(await screen.findByRole("button", { name: "Delete" }));
    await user.click(screen.getByRole("button", { name: "Delete function" }));
    const dialog = screen.getByRole("dialog", { name: "Delete shout?" });
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("the token lacks functions:write");
    expect(screen.getByRole("heading", { name: "shout", level: 1 })).toBeInTheDocument();
  });

  it("says so when there is no such function", async () => {
    setToken("t");
    fakeApi({
      "GET /v1/functions/gone": () => apiError(404, "not_found", 'function "gone" not found'),
      "GET /v1/functions/gone/invocations": () => json(200, { items: [] }),
    });
    renderApp("/functions/gone");
    expect(await screen.findByRole("alert")).toHaveTextContent("No function named gone");
    expect(screen.queryByText("Loading…")).toBeNull();
  });
  it("shows an http function's route and its triggers' state", async () => {
    setToken("t");
    const web = functionView("web", {
      invocation: { mode: "http", timeout: "30s" },
      http: { auth: "public" },
      triggers: [{ type: "cron", schedule: "@every 1m", timezone: "UTC", missed: "skip" }],
      status: {
        phase: "Ready",
        readyReplicas: 1,
        observedGeneration: 1,
        url: "/fn/demo/web/",
        triggers: [{ key: "cron-aaaaaaaaaaaa", type: "cron", fires: 3, errors: 0, nextFires: [new Date(Date.now() + 60_000).toISOString()] }],
      },
    });
    fakeApi({
      "GET /v1/functions/web": () => json(200, web),
      "GET /v1/functions/web/invocations": () => json(200, { items: [] }),
    });
    renderApp("/functions/web");
    const route = await screen.findByRole("region", { name: "HTTP route" });
    expect(within(route).getByTestId("route-url")).toHaveTextContent(`${window.location.origin}/fn/demo/web/`);
    expect(within(route).getByTestId("route-auth")).toHaveTextContent(/^public/);
    const triggers = screen.getByRole("region", { name: "Triggers" });
    const row = within(triggers).getAllByRole("row")[1]!;
    expect(within(row).getAllByRole("cell")[1]).toHaveTextContent("3");
  });

  it("shows neither a route nor triggers for a plain job function", async () => {
    setToken("t");
    fakeApi({
      "GET /v1/functions/shout": () => json(200, ready),
      "GET /v1/functions/shout/invocations": () => json(200, { items: [] }),
    });
    renderApp("/functions/shout");
    await screen.findByRole("region", { name: "Status" });
    expect(screen.queryByRole("region", { name: "HTTP route" })).toBeNull();
    expect(screen.queryByRole("region", { name: "Triggers" })).toBeNull();
    expect(screen.queryByRole("region", { name: "Rollout" })).toBeNull();
  });

  it("shows a gradual rollout where it stands, its split in the revisions, and follows it as the function is refreshed", async () => {
    setToken("t");
    const at = (percent: number, phase: "progressing" | "complete") =>
      functionView("web", {
        generation: 2,
        invocation: { mode: "http", timeout: "30s" },
        rollout: { stepPercent: 50, interval: "1s", maxErrorPercent: 5, minRequests: 10 },
        status: {
          phase: "Ready",
          readyReplicas: 1,
          observedGeneration: 2,
          rollout: { revision: 2, from: 1, percent, phase, message: `revision 2 takes ${percent}%`, updatedAt: new Date().toISOString() },
        },
      });
    let fn = at(50, "progressing");
    const streams: ((chunk: string) => void)[] = [];
    const push = (chunk: string) => streams.forEach((p) => p(chunk));
    const revSpec = { name: "web", command: ["cat"], invocation: { mode: "http" } };
    fakeApi({
      "GET /v1/functions/web": () => json(200, fn),
      "GET /v1/functions/web/invocations": () => json(200, { items: [] }),
      "GET /v1/events": (c) => {
        const stream = openSse(c.signal);
        streams.push(stream.push);
        return stream.response;
      },
      "GET /v1/functions/web/revisions": () =>
        json(200, {
          items: [2, 1].map((n) => ({ revision: n, spec: revSpec, digest: `sha256:${n}`, createdAt: "2026-01-01T00:00:00Z", createdBy: "demo", cause: n === 1 ? "created" : "updated" })),
        }),
    });
    renderApp("/functions/web");
    const block = await screen.findByRole("region", { name: "Rollout" });
    expect(within(block).getByTestId("rollout-phase")).toHaveTextContent("progressing");
    expect(block).toHaveTextContent("revision 2 at 50% (from revision 1)");
    expect(within(block).getByRole("progressbar")).toHaveAttribute("aria-valuenow", "50");
    const revisions = screen.getByRole("region", { name: "Revisions" });
    expect(await within(revisions).findAllByTestId("traffic-share")).toHaveLength(2);

    // Each step is an io.eventflow.function.rollout event: it refreshes the function, and the block moves on.
    // The page's own stream (beside its heading) is open.
    expect(await within(screen.getByRole("heading", { level: 1, name: "web" }).parentElement!).findByText("Live")).toBeInTheDocument();
    fn = at(100, "complete");
    push(
      'id: 7\nevent: io.eventflow.function.rollout\ndata: {"type":"io.eventflow.function.rollout","subject":"web","data":{"name":"web","revision":2,"from":1,"percent":100,"phase":"complete"}}\n\n',
    );
    await within(block).findByText("complete");
    expect(within(block).getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100");
    await waitFor(() => expect(within(revisions).queryAllByTestId("traffic-share")).toHaveLength(0));
  });
});
