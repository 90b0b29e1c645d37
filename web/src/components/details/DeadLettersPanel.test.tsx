import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { DeadLettersPanel } from "./DeadLettersPanel";
import { renderWithProviders } from "../../test/render";
import { apiError, fakeApi, json } from "../../test/fakeApi";
import { setToken } from "../../auth/session";
import type { DeadLetter } from "../../api/types";

const NOW = Date.parse("2026-01-01T00:10:00Z");
// Ids made close together share their beginning; the end tells them apart.
const ID1 = "0190a1b2c3d4e5f6000000000000a001";
const ID2 = "0190a1b2c3d4e5f6000000000000b002";

function deadLetter(id: string, over: Partial<DeadLetter> = {}): DeadLetter {
  return { id, attempts: 3, error: "exit status 1", deadLetteredAt: "2026-01-01T00:05:00Z", payloadBytes: 2, sequence: 1, ...over };
}

const LIST = "GET /v1/functions/shout/dead-letters";
const REDRIVE = "POST /v1/functions/shout/dead-letters/redrive";

function renderPanel() {
  return renderWithProviders(<DeadLettersPanel name="shout" live={false} enabled now={NOW} />);
}

describe("DeadLettersPanel", () => {
  it("lists the dead letters in a labelled table: id's end, attempts, last error, when", async () => {
    setToken("t");
    fakeApi({ [LIST]: () => json(200, { items: [deadLetter(ID1), deadLetter(ID2, { attempts: 1, error: "timed out after 30s" })] }) });
    renderPanel();
    const table = await screen.findByRole("table", { name: "Dead letters, oldest first" });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows).toHaveLength(2);
    expect(within(rows[0]!).getByRole("rowheader")).toHaveTextContent("…00000000a001");
    expect(rows[0]).toHaveTextContent("exit status 1");
    expect(rows[0]).toHaveTextContent("5m ago");
    expect(within(rows[1]!).getAllByRole("cell")[0]).toHaveTextContent("1");
    expect(rows[1]).toHaveTextContent("timed out after 30s");
    expect(within(rows[1]!).getByRole("button", { name: "Redrive …00000000b002" })).toBeEnabled();
    expect(screen.getByRole("button", { name: "Redrive all" })).toBeEnabled();
  });

  it("says there are none, and what they are, with Redrive all disabled", async () => {
    setToken("t");
    fakeApi({ [LIST]: () => json(200, { items: [] }) });
    renderPanel();
    expect(await screen.findByText("No dead letters")).toBeInTheDocument();
    expect(screen.getByText(/failed every retry/)).toBeInTheDocument();
    expect(screen.queryByRole("table")).not.toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Redrive all" })).toBeDisabled();
  });

  it("redrives one row with its id, shows the answer and reads the list again", async () => {
    setToken("t");
    let redriven = false;
    const api = fakeApi({
      [LIST]: () => json(200, { items: redriven ? [deadLetter(ID2)] : [deadLetter(ID1), deadLetter(ID2)] }),
      [REDRIVE]: () => {
        redriven = true;
        return json(202, { redriven: [ID1] });
      },
    });
    const user = userEvent.setup();
    renderPanel();
    await user.click(await screen.findByRole("button", { name: "Redrive …00000000a001" }));
    const answer = await screen.findByText("Redriven 1 invocation: queued again.");
    expect(answer).toHaveAttribute("role", "status");
    await waitFor(() => expect(screen.queryByRole("button", { name: "Redrive …00000000a001" })).not.toBeInTheDocument());
    // The answer takes the focus in an effect that may run after the commit that shows it.
    await waitFor(() => expect(answer).toHaveFocus());
    const posts = api.calls.filter((c) => c.method === "POST");
    expect(posts).toHaveLength(1);
    expect(JSON.parse(posts[0]!.body)).toEqual({ ids: [ID1] });
    expect(api.calls.filter((c) => c.method === "GET" && c.path.endsWith("/dead-letters")).length).toBeGreaterThanOrEqual(2);
  });

  it("asks before redriving all, and then sends no ids (the API's form for all)", async () => {
    setToken("t");
    const api = fakeApi({
      [LIST]: () => json(200, { items: [deadLetter(ID1), deadLetter(ID2)] }),
      [REDRIVE]: () => json(202, { redriven: [ID1, ID2] }),
    });
    const user = userEvent.setup();
    renderPanel();
    await user.click(await screen.findByRole("button", { name: "Redrive all" }));
    const dialog = screen.getByRole("dialog", { name: "Redrive all dead letters of shout?" });
    expect(within(dialog).getByRole("button", { name: "Cancel" })).toHaveFocus();
    expect(api.calls.filter((c) => c.method === "POST")).toHaveLength(0);

    // Escape cancels without a request; asked again, the keyboard confirms.
    await user.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(api.calls.filter((c) => c.method === "POST")).toHaveLength(0);
    await user.click(screen.getByRole("button", { name: "Redrive all" }));
    await user.tab();
    expect(within(screen.getByRole("dialog")).getByRole("button", { name: "Redrive all" })).toHaveFocus();
    await user.keyboard("{Enter}");

    expect(await screen.findByText("Redriven 2 invocations: queued again.")).toBeInTheDocument();
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    const posts = api.calls.filter((c) => c.method === "POST");
    expect(posts).toHaveLength(1);
    expect(posts[0]!.path).toBe("/v1/functions/shout/dead-letters/redrive");
    expect(JSON.parse(posts[0]!.body)).toEqual({});
  });

  it("shows the API's message when a redrive is refused, keeping the focus on the button", async () => {
    setToken("t");
    fakeApi({
      [LIST]: () => json(200, { items: [deadLetter(ID1)] }),
      [REDRIVE]: () => apiError(404, "not_found", `invocation "${ID1}" is not among "shout"'s dead letters; nothing was redriven`),
    });
    const user = userEvent.setup();
    renderPanel();
    await user.click(await screen.findByRole("button", { name: "Redrive …00000000a001" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Not redriven");
    expect(alert).toHaveTextContent(`invocation "${ID1}" is not among "shout"'s dead letters; nothing was redriven`);
    expect(screen.getByRole("button", { name: "Redrive …00000000a001" })).toHaveFocus();
  });

  it("shows the API's message when the list cannot be read", async () => {
    setToken("t");
    fakeApi({ [LIST]: () => apiError(500, "internal", "the dead-letter stream is unavailable") });
    renderPanel();
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Could not load the dead letters");
    expect(alert).toHaveTextContent("the dead-letter stream is unavailable");
  });
});
