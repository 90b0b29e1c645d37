import { describe, expect, it } from "vitest";
import { render, screen, within } from "@testing-library/react";
import { RolloutPanel } from "./RolloutPanel";
import type { RolloutState } from "../../api/types";

const NOW = Date.parse("2026-01-01T00:10:00Z");

const state = (over: Partial<RolloutState> = {}): RolloutState => ({
  revision: 5,
  from: 4,
  percent: 20,
  phase: "progressing",
  message: "revision 5 takes 20%, revision 4 the rest",
  updatedAt: "2026-01-01T00:09:30Z",
  ...over,
});

describe("RolloutPanel", () => {
  it("shows the phase, the revisions and their share, the message and a progress bar", () => {
    render(<RolloutPanel rollout={state()} now={NOW} />);
    const block = screen.getByRole("region", { name: "Rollout" });
    expect(within(block).getByTestId("rollout-phase")).toHaveTextContent("progressing");
    expect(within(block).getByTestId("rollout-phase").className).toContain("amber");
    expect(block).toHaveTextContent("revision 5 at 20% (from revision 4)");
    expect(block).toHaveTextContent("revision 5 takes 20%, revision 4 the rest");
    expect(block).toHaveTextContent("30s ago");
    const bar = within(block).getByRole("progressbar", { name: "Rollout of revision 5" });
    expect(bar).toHaveAttribute("aria-valuenow", "20");
    expect(bar).toHaveAttribute("aria-valuemin", "0");
    expect(bar).toHaveAttribute("aria-valuemax", "100");
    expect(bar).toHaveAttribute("aria-valuetext", "20%, progressing");
  });

  it("shows a complete rollout at 100% and a rolled-back one at 0%, without a message if none", () => {
    const { unmount } = render(<RolloutPanel rollout={state({ phase: "complete", percent: 100, message: undefined })} now={NOW} />);
    expect(screen.getByTestId("rollout-phase")).toHaveTextContent("complete");
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100");
    expect(screen.getByTestId("rollout-summary")).toHaveTextContent("revision 5 at 100% (from revision 4)");
    expect(screen.queryByTestId("rollout-message")).toBeNull();
    unmount();

    render(<RolloutPanel rollout={state({ phase: "rolled-back", percent: 0, message: "3 of its 12 requests failed" })} now={NOW} />);
    expect(screen.getByTestId("rollout-phase")).toHaveTextContent("rolled-back");
    expect(screen.getByTestId("rollout-phase").className).toContain("rose");
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "0");
    expect(screen.getByTestId("rollout-message")).toHaveTextContent("3 of its 12 requests failed");
  });
});
