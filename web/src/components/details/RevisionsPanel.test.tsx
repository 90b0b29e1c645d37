import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { RevisionsPanel, rolloutShare, shortDigest, trafficShare } from "./RevisionsPanel";
import { renderWithProviders } from "../../test/render";
import { apiError, fakeApi, json } from "../../test/fakeApi";
import { functionView } from "../../test/fixtures";
import { setToken } from "../../auth/session";
import { useFunction } from "../../api/queries";

/** As the details page does: the current revision is the function's generation. */
function WithFunction() {
  const fn = useFunction("shout", { live: false });
  return <RevisionsPanel name="shout" current={fn.data?.generation} live={false} enabled now={NOW} />;
}
import type { Revision, RolloutState } from "../../api/types";

const NOW = Date.parse("2026-01-01T00:10:00Z");
const HEX = "0123456789abcdef".repeat(4);

function rev(n: number, spec: Record<string, unknown>, over: Partial<Revision> = {}): Revision {
  return { revision: n, spec, digest: `sha256:${n}${HEX.slice(1)}`, createdAt: "2026-01-01T00:05:00Z", createdBy: "demo", cause: n === 1 ? "created" : "updated", ...over };
}

const spec = (timeout: string, secrets?: string[]) => ({ name: "shout", command: ["cat"], invocation: { mode: "job", timeout }, ...(secrets ? { secrets } : {}) });

const LIST = "GET /v1/functions/shout/revisions";
const ROLLBACK = "POST /v1/functions/shout:rollback";

function renderPanel(current = 3) {
  return renderWithProviders(<RevisionsPanel name="shout" current={current} live={false} enabled now={NOW} />);
}

describe("trafficShare", () => {
  it("gives a revision its share of a split: by number, the current one by the tag latest", () => {
    const split = [
      { revision: 1, percent: 90 },
      { tag: "latest" as const, percent: 10 },
    ];
    expect(trafficShare(split, 1, 4)).toBe(90);
    expect(trafficShare(split, 4, 4)).toBe(10);
    expect(trafficShare(split, 2, 4)).toBeUndefined();
    expect(trafficShare(undefined, 4, 4)).toBeUndefined();
  });
});

const rolloutOf = (over: Partial<RolloutState> = {}): RolloutState => ({ revision: 3, from: 2, percent: 40, phase: "progressing", updatedAt: "2026-01-01T00:09:00Z", ...over });

describe("rolloutShare", () => {
  it("splits between the revision rolled out from and the latest while progressing or rolled back", () => {
    expect(rolloutShare(rolloutOf(), 3, 3)).toBe(40);
    expect(rolloutShare(rolloutOf(), 2, 3)).toBe(60);
    expect(rolloutShare(rolloutOf(), 1, 3)).toBeUndefined();
    // A later update of, say, only the scale: the latest revision is the one that takes the share.
    expect(rolloutShare(rolloutOf(), 4, 4)).toBe(40);
    expect(rolloutShare(rolloutOf(), 3, 4)).toBeUndefined();
    expect(rolloutShare(rolloutOf({ phase: "rolled-back", percent: 0 }), 3, 3)).toBe(0);
    expect(rolloutShare(rolloutOf({ phase: "rolled-back", percent: 0 }), 2, 3)).toBe(100);
  });

  it("names no share when the rollout splits nothing", () => {
    expect(rolloutShare(undefined, 3, 3)).toBeUndefined();
    expect(rolloutShare(rolloutOf({ phase: "complete", percent: 100 }), 3, 3)).toBeUndefined();
    expect(rolloutShare(rolloutOf({ phase: "complete", percent: 100 }), 2, 3)).toBeUndefined();
    // Rolled back to from by hand: from is the latest again, nothing is split.
    expect(rolloutShare(rolloutOf({ phase: "rolled-back", percent: 0 }), 2, 2)).toBeUndefined();
  });
});

describe("RevisionsPanel", () => {
  it("lists the revisions newest first: number, cause, message, when, who, short digest; the current one marked", async () => {
    setToken("t");
    fakeApi({
      [LIST]: () =>
        json(200, {
          items: [
            rev(3, spec("25s", ["api-key"]), { cause: "secret-rotated", message: "secret api-key is at version 2", createdBy: "" }),
            rev(2, spec("25s", ["api-key"])),
            rev(1, spec("20s")),
          ],
        }),
    });
    renderPanel();
    const table = await screen.findByRole("table", { name: "Revisions, newest first" });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((r) => within(r).getByRole("rowheader").textContent)).toEqual(["3current", "2", "1"]);
    expect(rows[0]).toHaveAttribute("aria-current", "true");
    expect(rows[1]).not.toHaveAttribute("aria-current");
    const cells = within(rows[0]!).getAllByRole("cell");
    expect(cells[0]).toHaveTextContent("secret rotated");
    expect(cells[1]).toHaveTextContent("secret api-key is at version 2");
    expect(cells[2]).toHaveTextContent("5m ago");
    expect(cells[3]).toHaveTextContent("—");
    expect(cells[4]).toHaveTextContent("3123456789ab");
    expect(cells[4]).toHaveAttribute("title", `sha256:3${HEX.slice(1)}`);
    expect(within(rows[2]!).getAllByRole("cell")[0]).toHaveTextContent("created");
    expect(within(rows[2]!).getAllByRole("cell")[3]).toHaveTextContent("demo");
    // No rollback to the current revision; one on each other row.
    expect(within(rows[0]!).queryByRole("button")).not.toBeInTheDocument();
    expect(within(rows[1]!).getByRole("button", { name: "Roll back to this revision: revision 2" })).toBeInTheDocument();
    expect(shortDigest("sha256:abc")).toBe("abc");
  });

  it("diffs the newest revision against the one before by default, and any two chosen", async () => {
    setToken("t");
    fakeApi({ [LIST]: () => json(200, { items: [rev(3, spec("25s", ["api-key"])), rev(2, spec("25s")), rev(1, spec("20s"))] }) });
    const user = userEvent.setup();
    renderPanel();
    const diff = await screen.findByRole("group", { name: "Spec of revision 2 against revision 3" });
    expect(screen.getByLabelText("From revision")).toHaveValue("2");
    expect(screen.getByLabelText("To revision")).toHaveValue("3");
    const added = () => Array.from(diff.querySelectorAll('[data-diff="add"] ins')).map((e) => e.textContent?.replace("added: ", "").trim());
    const removed = () => Array.from(diff.querySelectorAll('[data-diff="del"] del')).map((e) => e.textContent?.replace("removed: ", "").trim());
    expect(added()).toEqual(['"name": "shout",', '"secrets": [', '"api-key"', "]"]);
    expect(removed()).toEqual(['"name": "shout"']);
    expect(screen.getByTestId("diff-stats")).toHaveTextContent("4 lines added, 1 removed");

    await user.selectOptions(screen.getByLabelText("From revision"), "1");
    await user.selectOptions(screen.getByLabelText("To revision"), "2");
    const d2 = screen.getByRole("group", { name: "Spec of revision 1 against revision 2" });
    expect(d2.querySelector('[data-diff="del"]')).toHaveTextContent('"timeout": "20s"');
    expect(d2.querySelector('[data-diff="add"]')).toHaveTextContent('"timeout": "25s"');
    expect(screen.getByTestId("diff-stats")).toHaveTextContent("1 line added, 1 removed");

    await user.selectOptions(screen.getByLabelText("From revision"), "2");
    expect(screen.getByTestId("diff-stats")).toHaveTextContent("The specs are the same.");
  });

  it("rolls back only once confirmed, with the revision, and shows the new revision", async () => {
    setToken("t");
    let items = [rev(2, spec("25s")), rev(1, spec("20s"))];
    const api = fakeApi({
      "GET /v1/functions/shout": () => json(200, functionView("shout", { generation: items[0]!.revision })),
      [LIST]: () => json(200, { items }),
      [ROLLBACK]: () => {
        items = [rev(3, spec("20s"), { cause: "rollback", message: "rolled back to revision 1" }), ...items];
        return json(202, functionView("shout", { generation: 3 }));
      },
    });
    const user = userEvent.setup();
    renderWithProviders(<WithFunction />);
    await user.click(await screen.findByRole("button", { name: "Roll back to this revision: revision 1" }));
    const dialog = screen.getByRole("dialog", { name: "Roll back shout to revision 1?" });
    expect(api.calls.filter((c) => c.method === "POST")).toHaveLength(0);
    await user.click(within(dialog).getByRole("button", { name: "Roll back" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    const answer = await screen.findByText("Rolled back to revision 1: the function is now at revision 3.");
    expect(answer).toHaveAttribute("role", "status");
    const posts = api.calls.filter((c) => c.method === "POST");
    expect(posts).toHaveLength(1);
    expect(posts[0]!.path).toBe("/v1/functions/shout:rollback");
    expect(JSON.parse(posts[0]!.body)).toEqual({ revision: 1 });
    // The list is read again: the new revision, caused by the rollback, on top.
    const newest = await screen.findByRole("rowheader", { name: /^3/ });
    expect(newest.closest("tr")).toHaveTextContent("rolled back to revision 1");
    expect(newest.closest("tr")).toHaveTextContent("rolled back");
    // The function's new generation: the new revision is the current one.
    await waitFor(() => expect(newest.closest("tr")).toHaveAttribute("aria-current", "true"));
    expect(screen.getByRole("group", { name: "Spec of revision 2 against revision 3" })).toBeInTheDocument();
  });

  it("keeps the dialog open with the API's refusal", async () => {
    setToken("t");
    fakeApi({
      [LIST]: () => json(200, { items: [rev(2, spec("25s")), rev(1, spec("20s", ["gone"]))] }),
      [ROLLBACK]: () => apiError(400, "validation_failed", 'secrets[0]: no secret named "gone"'),
    });
    const user = userEvent.setup();
    renderPanel(2);
    await user.click(await screen.findByRole("button", { name: "Roll back to this revision: revision 1" }));
    const dialog = screen.getByRole("dialog");
    await user.click(within(dialog).getByRole("button", { name: "Roll back" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent('no secret named "gone"');
  });
});

describe("RevisionsPanel traffic shares", () => {
  const items = () => ({ items: [rev(3, spec("25s")), rev(2, spec("20s")), rev(1, spec("20s"))] });
  const shares = async () => {
    const table = await screen.findByRole("table", { name: "Revisions, newest first" });
    return within(table)
      .getAllByRole("row")
      .slice(1)
      .map((r) => r.querySelector('[data-testid="traffic-share"]')?.textContent ?? null);
  };

  it("shows the shares of a fixed split (spec.traffic)", async () => {
    setToken("t");
    fakeApi({ [LIST]: () => json(200, items()) });
    renderWithProviders(
      <RevisionsPanel name="shout" current={3} traffic={[{ revision: 1, percent: 90 }, { tag: "latest", percent: 10 }]} live={false} enabled now={NOW} />,
    );
    expect(await shares()).toEqual(["10% of traffic", null, "90% of traffic"]);
  });

  it("shows a progressing rollout's split: the latest gets percent, from the rest", async () => {
    setToken("t");
    fakeApi({ [LIST]: () => json(200, items()) });
    renderWithProviders(<RevisionsPanel name="shout" current={3} rollout={rolloutOf({ percent: 40 })} live={false} enabled now={NOW} />);
    expect(await shares()).toEqual(["40% of traffic", "60% of traffic", null]);
    expect(screen.getAllByTestId("traffic-share")[0]).toHaveAttribute("title", "Its share of the invocations (gradual rollout)");
  });

  it("shows a rolled-back rollout's split: everything back on from", async () => {
    setToken("t");
    fakeApi({ [LIST]: () => json(200, items()) });
    renderWithProviders(<RevisionsPanel name="shout" current={3} rollout={rolloutOf({ phase: "rolled-back", percent: 0 })} live={false} enabled now={NOW} />);
    expect(await shares()).toEqual(["0% of traffic", "100% of traffic", null]);
  });

  it("shows no share once the rollout is complete", async () => {
    setToken("t");
    fakeApi({ [LIST]: () => json(200, items()) });
    renderWithProviders(<RevisionsPanel name="shout" current={3} rollout={rolloutOf({ phase: "complete", percent: 100 })} live={false} enabled now={NOW} />);
    expect(await shares()).toEqual([null, null, null]);
  });
});
