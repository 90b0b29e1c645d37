import { describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { LogsPanel } from "./LogsPanel";
import { renderWithProviders } from "../../test/render";
import { fakeApi } from "../../test/fakeApi";
import { setToken } from "../../auth/session";

/** A logs endpoint whose lines the test pushes. */
function logsFeed() {
  let push: ((chunk: string) => void) | undefined;
  let seq = 0;
  const api = fakeApi({
    "GET /v1/functions/shout/logs": (c) => {
      const enc = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        start(ctl) {
          push = (s) => ctl.enqueue(enc.encode(s));
          c.signal?.addEventListener("abort", () => ctl.error(new DOMException("aborted", "AbortError")));
        },
      });
      return new Response(body, { headers: { "Content-Type": "text/event-stream" } });
    },
  });
  const line = (text: string, stream: "stdout" | "stderr" = "stderr") => {
    seq++;
    const data = { time: "2026-01-01T00:00:00Z", tenant: "t", function: "shout", instance: `shout-${seq}`, stream, line: text };
    push?.(`id: ${seq}\nevent: log\ndata: ${JSON.stringify(data)}\n\n`);
  };
  return { api, line, ready: () => waitFor(() => expect(push).toBeDefined()) };
}

describe("LogsPanel", () => {
  it("streams lines, holds them back while paused, searches and clears", async () => {
    setToken("t");
    const feed = logsFeed();
    const user = userEvent.setup();
    renderWithProviders(<LogsPanel name="shout" />);
    await feed.ready();
    expect(feed.api.calls[0]?.search).toBe("?tail=200&follow=true");
    expect(feed.api.calls[0]?.headers.get("Accept")).toBe("text/event-stream");

    feed.line("starting");
    feed.line("HELLO", "stdout");
    expect(await screen.findByText("HELLO")).toBeInTheDocument();
    expect(screen.getAllByTestId("log-line")).toHaveLength(2);

    await user.click(screen.getByRole("button", { name: "Pause" }));
    feed.line("held back");
    expect(await screen.findByRole("button", { name: "Resume (1 new)" })).toHaveAttribute("aria-pressed", "true");
    expect(screen.queryByText("held back")).toBeNull();
    await user.click(screen.getByRole("button", { name: "Resume (1 new)" }));
    expect(await screen.findByText("held back")).toBeInTheDocument();

    await user.type(screen.getByLabelText("Search logs"), "hello");
    expect(screen.getAllByTestId("log-line")).toHaveLength(1);
    await user.clear(screen.getByLabelText("Search logs"));

    await user.click(screen.getByRole("button", { name: "Clear" }));
    expect(screen.queryAllByTestId("log-line")).toHaveLength(0);
    feed.line("after clear");
    expect(await screen.findByText("after clear")).toBeInTheDocument();
  });
});
