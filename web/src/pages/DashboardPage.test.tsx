import { describe, expect, it } from "vitest";
import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { renderApp } from "../test/render";
import { apiError, fakeApi, json, openSse } from "../test/fakeApi";
import { setToken } from "../auth/session";
import type { FunctionView } from "../api/types";
import { functionView } from "../test/fixtures";

/** A Ready http function with two replicas. */
function fn(name: string, over: Partial<FunctionView> = {}): FunctionView {
  return functionView(name, {
    scale: { min: 2, max: 2 },
    invocation: { mode: "http", timeout: "30s" },
    status: { phase: "Ready", readyReplicas: 2, replicas: 2, observedGeneration: 1 },
    ...over,
  });
}

describe("dashboard", () => {
  it("lists the functions in a table with phase, replicas, mode and image, and searches by name", async () => {
    setToken("t");
    fakeApi({
      "GET /v1/functions": () =>
        json(200, {
          items: [
            fn("resize", { image: "ghcr.io/acme/resize:1" }),
            fn("upper", { invocation: { mode: "job" }, scale: undefined, status: { phase: "Failed", readyReplicas: 0, observedGeneration: 1, message: "exec: no such file" } }),
          ],
        }),
    });
    renderApp("/");
    const table = await screen.findByRole("table", { name: "Functions of this tenant" });
    const rows = within(table).getAllByRole("row");
    expect(rows).toHaveLength(3);
    const resize = within(table).getByRole("row", { name: /resize/ });
    expect(resize).toHaveTextContent("Ready");
    expect(resize).toHaveTextContent("2/2");
    expect(resize).toHaveTextContent("http");
    expect(resize).toHaveTextContent("ghcr.io/acme/resize:1");
    const upper = within(table).getByRole("row", { name: /upper/ });
    expect(upper).toHaveTextContent("Failed");
    expect(upper).toHaveTextContent("exec: no such file");
    expect(upper).toHaveTextContent("job");

    await userEvent.type(screen.getByLabelText("Search functions by name"), "up");
    expect(within(table).getAllByRole("row")).toHaveLength(2);
    expect(within(table).queryByRole("row", { name: /resize/ })).toBeNull();
  });

  it("tells a new tenant what to do", async () => {
    setToken("t");
    fakeApi({ "GET /v1/functions": () => json(200, { items: [] }) });
    renderApp("/");
    expect(await screen.findByRole("heading", { name: "No functions yet" })).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Create your first function" })).toHaveAttribute("href", "/functions/new");
  });

  it("says when the list cannot be read, without telling the tenant it has no functions", async () => {
    setToken("t");
    fakeApi({ "GET /v1/functions": () => apiError(503, "unavailable", "the functions store is not reachable") });
    renderApp("/");
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load the functions");
    expect(screen.getByRole("alert")).toHaveTextContent("the functions store is not reachable");
    expect(screen.queryByRole("heading", { name: "No functions yet" })).toBeNull();
    expect(screen.queryByText("Loading functions…")).toBeNull();
  });

  it("refetches the list when a function event arrives", async () => {
    setToken("t");
    let phase: "Deploying" | "Ready" = "Deploying";
    let push: ((chunk: string) => void) | undefined;
    fakeApi({
      "GET /v1/functions": () => json(200, { items: [fn("shout", { status: { phase, readyReplicas: 0, observedGeneration: 1 } })] }),
      "GET /v1/events": (c) => {
        const stream = openSse(c.signal);
        push = stream.push;
        return stream.response;
      },
    });
    renderApp("/");
    const row = await screen.findByRole("row", { name: /shout/ });
    expect(row).toHaveTextContent("Deploying");
    expect(await screen.findByText("Live")).toBeInTheDocument();
    phase = "Ready";
    push?.('id: 9\nevent: io.eventflow.function.ready\ndata: {"type":"io.eventflow.function.ready","subject":"shout","data":{"name":"shout","phase":"Ready"}}\n\n');
    expect(await within(await screen.findByRole("row", { name: /shout/ })).findByText("Ready")).toBeInTheDocument();
  });
});
