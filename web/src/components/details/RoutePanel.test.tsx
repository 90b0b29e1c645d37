import { describe, expect, it } from "vitest";
import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { RoutePanel } from "./RoutePanel";
import { renderWithProviders } from "../../test/render";
import { functionView } from "../../test/fixtures";

const web = functionView("web", {
  invocation: { mode: "http", timeout: "30s" },
  http: { auth: "token" },
  status: { phase: "Ready", readyReplicas: 1, observedGeneration: 1, url: "/fn/demo/web/" },
});

describe("RoutePanel", () => {
  it("shows the route URL on the gateway's origin, copies it, and says who may call it", async () => {
    const user = userEvent.setup();
    renderWithProviders(<RoutePanel fn={web} />);
    const url = `${window.location.origin}/fn/demo/web/`;
    expect(screen.getByRole("region", { name: "HTTP route" })).toBeInTheDocument();
    expect(screen.getByTestId("route-url")).toHaveTextContent(url);
    expect(screen.getByTestId("route-async-url")).toHaveTextContent(`${window.location.origin}/async-fn/demo/web/`);
    expect(screen.getByTestId("route-auth")).toHaveTextContent(/^token: .*functions:invoke/);
    await user.click(screen.getByRole("button", { name: "Copy the route URL" }));
    expect(await navigator.clipboard.readText()).toBe(url);
    expect(screen.getByRole("status")).toHaveTextContent("Copied.");
  });

  it("says a public route needs no token", () => {
    renderWithProviders(<RoutePanel fn={{ ...web, http: { auth: "public" } }} />);
    expect(screen.getByTestId("route-auth")).toHaveTextContent(/^public: anyone/);
  });

  it("renders nothing without a route", () => {
    renderWithProviders(<RoutePanel fn={functionView("job")} />);
    expect(screen.queryByRole("region", { name: "HTTP route" })).toBeNull();
  });
});
