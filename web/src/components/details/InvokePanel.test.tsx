import { describe, expect, it } from "vitest";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { QueryClient, QueryClientProvider, useQuery } from "@tanstack/react-query";
import { InvokePanel, SYNC_RECORD_DELAY_MS } from "./InvokePanel";
import { keys } from "../../api/queries";
import { renderWithProviders } from "../../test/render";
import { apiError, fakeApi, json } from "../../test/fakeApi";
import { setToken } from "../../auth/session";

describe("InvokePanel", () => {
  it("invokes synchronously with the payload as is and shows body, status and duration", async () => {
    setToken("t");
    const api = fakeApi({
      "POST /v1/functions/shout:invoke": (c) =>
        new Response(c.body.toUpperCase(), { status: 200, headers: { "X-Duration-Ms": "12", "X-Invocation-Id": "a".repeat(32), "X-Exit-Code": "0" } }),
    });
    const user = userEvent.setup();
    renderWithProviders(<InvokePanel name="shout" disabled={false} />);
    await user.type(screen.getByLabelText("Payload"), '{{"a": 1}');
    await user.click(screen.getByRole("button", { name: "Invoke" }));
    expect(await screen.findByTestId("invoke-output")).toHaveTextContent('{"A": 1}');
    expect(screen.getByTestId("invoke-status")).toHaveTextContent("200");
    expect(screen.getByTestId("invoke-duration")).toHaveTextContent("12 ms run");
    expect(screen.getByRole("status")).toHaveTextContent(/^Answered with status 200 in \d+ ms$/);
    expect(api.calls[0]?.body).toBe('{"a": 1}');
    expect(api.calls[0]?.search).toBe("");
  });

  it("shows a failure's status and the API's message", async () => {
    setToken("t");
    fakeApi({ "POST /v1/functions/shout:invoke": () => apiError(502, "function_failed", "exit status 3") });
    const user = userEvent.setup();
    renderWithProviders(<InvokePanel name="shout" disabled={false} />);
    await user.click(screen.getByRole("button", { name: "Invoke" }));
    expect(await screen.findByTestId("invoke-output")).toHaveTextContent("function_failed: exit status 3");
    expect(screen.getByTestId("invoke-status")).toHaveTextContent("502");
  });

  it("queues asynchronously and follows the invocation to its end", async () => {
    setToken("t");
    const id = "b".repeat(32);
    let reads = 0;
    const api = fakeApi({
      "POST /v1/functions/shout:invoke": () => json(202, { id, status: "queued", location: `/v1/invocations/${id}` }, { "X-Invocation-Id": id }),
      [`GET /v1/invocations/${id}`]: () => {
        reads++;
        const done = reads > 1;
        return json(200, {
          id,
          tenant: "t",
          function: "shout",
          async: true,
          status: done ? "succeeded" : "running",
          attempts: 1,
          createdAt: "2026-01-01T00:00:00Z",
          ...(done ? { output: "LATER", durationMs: 7 } : {}),
        });
      },
    });
    const user = userEvent.setup();
    renderWithProviders(<InvokePanel name="shout" disabled={false} />);
    await user.click(screen.getByLabelText("Async (queue it)"));
    await user.click(screen.getByRole("button", { name: "Invoke" }));
    expect(await screen.findByTestId("invoke-status")).toHaveTextContent("202");
    expect(await screen.findByText("succeeded", {}, { timeout: 5000 })).toBeInTheDocument();
    expect(screen.getByTestId("invoke-output")).toHaveTextContent("LATER");
    expect(api.calls[0]?.search).toBe("?async=true");
  });

  it("abandons a request still out when the panel goes away", async () => {
    setToken("t");
    const api = fakeApi({ "POST /v1/functions/shout:invoke": () => new Promise<Response>(() => {}) });
    const user = userEvent.setup();
    const { unmount } = renderWithProviders(<InvokePanel name="shout" disabled={false} />);
    await user.click(screen.getByRole("button", { name: "Invoke" }));
    expect(await screen.findByRole("button", { name: "Invoking…" })).toBeDisabled();
    const signal = api.calls[0]?.signal;
    expect(signal?.aborted).toBe(false);
    unmount();
    expect(signal?.aborted).toBe(true);
  });
});

describe("InvokePanel and the history", () => {
  it("reads the history again a moment after a sync answer, whose record is written just after it", async () => {
    setToken("t");
    let lists = 0;
    fakeApi({
      "POST /v1/functions/shout:invoke": () => new Response("OK", { status: 200, headers: { "X-Invocation-Id": "c".repeat(32) } }),
      "GET /v1/invocations": () => {
        lists++;
        return json(200, { items: [] });
      },
    });
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    function History() {
      useQuery({ queryKey: keys.invocations("shout"), queryFn: () => fetch("/v1/invocations?function=shout").then((r) => r.json()) });
      return null;
    }
    const user = userEvent.setup();
    render(
      <QueryClientProvider client={qc}>
        <History />
        <InvokePanel name="shout" disabled={false} />
      </QueryClientProvider>,
    );
    await waitFor(() => expect(lists).toBe(1));
    await user.click(screen.getByRole("button", { name: "Invoke" }));
    await screen.findByTestId("invoke-output");
    await waitFor(() => expect(lists).toBe(2)); // at once
    await waitFor(() => expect(lists).toBe(3), { timeout: SYNC_RECORD_DELAY_MS + 2_000 }); // and a moment later
  });
});
