import { describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { LogsPanel } from "./LogsPanel";
import { renderWithProviders } from "../../test/render";
import { apiError, fakeApi, openSse } from "../../test/fakeApi";
import { setToken } from "../../auth/session";

/** A logs endpoint whose lines the test pushes. */
function logsFeed() {
  let push: ((chunk: string) => void) | undefined;
  let seq = 0;
  const api = fakeApi({
    "GET /v1/functions/shout/logs": (c) => {
      const stream = openSse(c.signal);
      push = stream.push;
      return stream.response;
    },
  });
  /** Sends a log line with the given stream sequence. */
  const send = (id: number, text: string, stream: "stdout" | "stderr" = "stderr") => {
    const data = { time: "2026-01-01T00:00:00Z", tenant: "t", function: "shout", instance: `shout-${id}`, stream, line: text };
    push?.(`id: ${id}\nevent: log\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const line = (text: string, stream: "stdout" | "stderr" = "stderr") => send(++seq, text, stream);
  /** Sends again a line already sent, as a reconnection's tail does. */
  const replay = (id: number, text: string) => send(id, text);
  /** Sends a log event whose data is not a log line. */
  const malformed = () => push?.(`id: ${++seq}\nevent: log\ndata: {"not":"a log line"}\n\n`);
  return { api, line, replay, malformed, ready: () => waitFor(() => expect(push).toBeDefined()) };
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

    expect(screen.getByRole("status")).toHaveTextContent("Live");
    await user.click(screen.getByRole("button", { name: "Pause" }));
    expect(screen.getByRole("status")).toHaveTextContent("Paused");
    feed.line("held back");
    expect(await screen.findByRole("button", { name: "Resume (1 new)" })).toHaveAttribute("aria-pressed", "true");
    expect(screen.queryByText("held back")).toBeNull();
    await user.click(screen.getByRole("button", { name: "Resume (1 new)" }));
    expect(await screen.findByText("held back")).toBeInTheDocument();
    expect(screen.getAllByTestId("log-line").map((l) => l.textContent)).toEqual([
      expect.stringContaining("starting"),
      expect.stringContaining("HELLO"),
      expect.stringContaining("held back"),
    ]);

    await user.type(screen.getByLabelText("Search logs"), "hello");
    expect(screen.getAllByTestId("log-line")).toHaveLength(1);
    await user.clear(screen.getByLabelText("Search logs"));

    await user.click(screen.getByRole("button", { name: "Clear" }));
    expect(screen.queryAllByTestId("log-line")).toHaveLength(0);
    expect(screen.getByRole("log")).toHaveTextContent("Cleared; new lines will show here.");
    feed.line("after clear");
    expect(await screen.findByText("after clear")).toBeInTheDocument();
  });

  it("skips the tail a reconnection replays, and what is not a log line", async () => {
    setToken("t");
    const feed = logsFeed();
    renderWithProviders(<LogsPanel name="shout" />);
    await feed.ready();
    feed.line("one");
    feed.replay(1, "one");
    feed.malformed();
    feed.line("two");
    await screen.findByText("two");
    expect(screen.getAllByTestId("log-line")).toHaveLength(2);
  });

  it("keeps the newest line in view while following, and not once Follow is off", async () => {
    setToken("t");
    const scroll = fakeScrolling(1000);
    const feed = logsFeed();
    const user = userEvent.setup();
    renderWithProviders(<LogsPanel name="shout" />);
    await feed.ready();
    const log = screen.getByRole("log", { name: "Log lines" });
    feed.line("first");
    await screen.findByText("first");
    expect(log.scrollTop).toBe(1000);

    await user.click(screen.getByRole("checkbox", { name: "Follow" }));
    log.scrollTop = 0;
    scroll.height = 2000;
    feed.line("second");
    await screen.findByText("second");
    expect(log.scrollTop).toBe(0);

    await user.click(screen.getByRole("checkbox", { name: "Follow" }));
    expect(log.scrollTop).toBe(2000);

    // Once the panel holds as many lines as it keeps, each new line still scrolls.
    for (let i = 0; i < 2000; i++) feed.line(`bulk ${i}`);
    await screen.findByText("bulk 1999");
    log.scrollTop = 0;
    scroll.height = 3000;
    feed.line("past the cap");
    await screen.findByText("past the cap");
    expect(log.scrollTop).toBe(3000);
    // Rendering the 2,000 lines the panel keeps takes jsdom about 2 s on
    // an idle machine, and over 5 s (the default bound) on a busy one.
  }, 30_000);

  it("says why the stream stopped", async () => {
    setToken("t");
    fakeApi({ "GET /v1/functions/shout/logs": () => apiError(403, "forbidden", "this token lacks the functions:read scope") });
    renderWithProviders(<LogsPanel name="shout" />);
    expect(await screen.findByText(/The log stream stopped: this token lacks the functions:read scope/)).toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent("Not connected");
  });
});

/** jsdom lays nothing out: elements get a settable scrollTop and the given scrollHeight. */
function fakeScrolling(height: number): { height: number } {
  const state = { height };
  const tops = new WeakMap<Element, number>();
  vi.spyOn(HTMLElement.prototype, "scrollHeight", "get").mockImplementation(() => state.height);
  vi.spyOn(Element.prototype, "scrollTop", "get").mockImplementation(function (this: Element) {
    return tops.get(this) ?? 0;
  });
  vi.spyOn(Element.prototype, "scrollTop", "set").mockImplementation(function (this: Element, v: number) {
    tops.set(this, v);
  });
  return state;
}
