import { describe, expect, it } from "vitest";
import { screen } from "@testing-library/react";
import { ScalePanel } from "./ScalePanel";
import { renderWithProviders } from "../../test/render";
import { functionView } from "../../test/fixtures";

const NOW = Date.parse("2026-01-01T00:10:00Z");

const web = functionView("web", {
  invocation: { mode: "http", timeout: "30s" },
  scale: { min: 0, max: 4, target: 10, metric: "concurrency", idleAfter: "30s" },
  status: {
    phase: "Ready",
    readyReplicas: 1,
    replicas: 2,
    observedGeneration: 1,
    lastScale: { from: 1, to: 2, reason: "12 requests in flight, target 10 per instance", at: "2026-01-01T00:08:00Z" },
  },
});

describe("ScalePanel", () => {
  it("shows ready/desired instances, the bounds and the last scaling decision with its reason and time", () => {
    renderWithProviders(<ScalePanel fn={web} now={NOW} />);
    expect(screen.getByRole("region", { name: "Scaling" })).toBeInTheDocument();
    expect(screen.getByTestId("scale-instances")).toHaveTextContent("1/2");
    expect(screen.getByTestId("scale-bounds")).toHaveTextContent("0–4 instances");
    expect(screen.getByTestId("scale-policy")).toHaveTextContent("target 10 requests in flight per instance; to zero after 30s idle");
    expect(screen.getByTestId("scale-last")).toHaveTextContent("1 → 2");
    expect(screen.getByTestId("scale-reason")).toHaveTextContent("12 requests in flight, target 10 per instance");
    expect(screen.getByTestId("scale-at")).toHaveAttribute("dateTime", "2026-01-01T00:08:00Z");
    expect(screen.getByTestId("scale-at")).toHaveTextContent("2m ago");
  });

  it("says a fixed count and no decision yet", () => {
    renderWithProviders(
      <ScalePanel fn={{ ...web, scale: { min: 2, max: 2 }, status: { phase: "Ready", readyReplicas: 2, replicas: 2, observedGeneration: 1 } }} now={NOW} />,
    );
    expect(screen.getByTestId("scale-instances")).toHaveTextContent("2/2");
    expect(screen.getByTestId("scale-bounds")).toHaveTextContent("2 instances, fixed");
    expect(screen.getByTestId("scale-policy")).toHaveTextContent("no autoscaling");
    expect(screen.getByTestId("scale-last")).toHaveTextContent("none yet");
  });

  it("renders nothing for a job-mode function", () => {
    renderWithProviders(<ScalePanel fn={functionView("job")} now={NOW} />);
    expect(screen.queryByRole("region", { name: "Scaling" })).toBeNull();
  });
});
