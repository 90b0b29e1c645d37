import { describe, expect, it } from "vitest";
import { screen, within } from "@testing-library/react";
import { TriggersPanel, triggerSource } from "./TriggersPanel";
import { renderWithProviders } from "../../test/render";
import { functionView } from "../../test/fixtures";

const NOW = Date.parse("2026-01-01T00:10:00Z");
const INV = "0190a1b2c3d4e5f6000000000000c0de";

const fn = functionView("ticker", {
  triggers: [
    { type: "cron", schedule: "@every 1m", timezone: "UTC", missed: "skip", body: "tick" },
    { type: "nats", subject: "orders.>" },
    { type: "event", filter: { type: "io.eventflow.invocation.dead_lettered", function: "*" } },
  ],
  status: {
    phase: "Ready",
    readyReplicas: 0,
    observedGeneration: 1,
    triggers: [
      {
        key: "cron-aaaaaaaaaaaa",
        type: "cron",
        fires: 7,
        errors: 1,
        lastFire: "2026-01-01T00:09:00Z",
        lastInvocation: INV,
        lastError: "queue full",
        lastErrorAt: "2026-01-01T00:05:00Z",
        nextFires: ["2026-01-01T00:10:30Z", "2026-01-01T00:11:30Z", "2026-01-01T00:12:30Z"],
      },
      { key: "nats-bbbbbbbbbbbb", type: "nats", fires: 0, errors: 0 },
      { key: "event-cccccccccccc", type: "event", fires: 2, errors: 0, lastFire: "2026-01-01T00:00:00Z" },
    ],
  },
});

describe("TriggersPanel", () => {
  it("lists each trigger with what it fires on, its counts, last fire and error, and next fires", () => {
    renderWithProviders(<TriggersPanel fn={fn} now={NOW} />);
    expect(screen.getByRole("region", { name: "Triggers" })).toBeInTheDocument();
    const rows = within(screen.getByRole("table", { name: "Triggers" })).getAllByRole("row").slice(1);
    expect(rows).toHaveLength(3);
    const [cron, nats, event] = rows as [HTMLElement, HTMLElement, HTMLElement];

    expect(within(cron).getByRole("rowheader")).toHaveTextContent("cron");
    const cells = within(cron).getAllByRole("cell");
    expect(cells[0]).toHaveTextContent("@every 1m");
    expect(cells[1]).toHaveTextContent("7");
    expect(cells[2]).toHaveTextContent("1");
    expect(cells[3]).toHaveTextContent("1m ago");
    expect(within(cells[3]!).getByTitle(INV)).toHaveTextContent("…00000000c0de");
    expect(cells[4]).toHaveTextContent("queue full");
    expect(cells[4]).toHaveTextContent("5m ago");
    const next = within(cells[5]!).getByRole("list", { name: "Next fires" });
    expect(within(next).getAllByRole("listitem").map((li) => li.textContent)).toEqual(["in 30s", "in 1m", "in 2m"]);

    expect(nats).toHaveTextContent("subject orders.>");
    expect(within(nats).getAllByRole("cell")[3]).toHaveTextContent("never");
    expect(within(nats).getAllByRole("cell")[5]).toHaveTextContent("—");

    expect(event).toHaveTextContent("type io.eventflow.invocation.dead_lettered, function *");
    expect(within(event).getAllByRole("cell")[1]).toHaveTextContent("2");
  });

  it("shows the spec's triggers with unknown counts when the answer has no state", () => {
    renderWithProviders(<TriggersPanel fn={{ ...fn, status: { ...fn.status, triggers: undefined } }} now={NOW} />);
    const rows = within(screen.getByRole("table", { name: "Triggers" })).getAllByRole("row").slice(1);
    expect(rows).toHaveLength(3);
    expect(within(rows[0]!).getAllByRole("cell")[1]).toHaveTextContent("—");
  });

  it("renders nothing for a function without triggers", () => {
    renderWithProviders(<TriggersPanel fn={functionView("plain")} now={NOW} />);
    expect(screen.queryByRole("region", { name: "Triggers" })).toBeNull();
  });

  it("describes a cron trigger's zone and missed policy when they are not the defaults", () => {
    expect(triggerSource({ type: "cron", schedule: "0 9 * * 1-5", timezone: "Europe/Paris", missed: "once" })).toBe("0 9 * * 1-5 (Europe/Paris, missed: once)");
    expect(triggerSource({ type: "event", filter: { source: "/eventflow/deployer" } })).toBe("type *, function *, source /eventflow/deployer");
  });
});
