import { describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { renderApp } from "../test/render";
import { apiError, fakeApi, json } from "../test/fakeApi";
import { getToken, setToken } from "../auth/session";

describe("login", () => {
  it("sends a visitor without a token to the login page", async () => {
    fakeApi({});
    renderApp("/");
    expect(await screen.findByRole("heading", { name: "Sign in with a token" })).toBeInTheDocument();
  });

  it("gets a development token for a tenant, keeps it for the session and uses it", async () => {
    const api = fakeApi({
      "POST /auth/token": () => json(200, { token: "dev-token", expiresAt: "2030-01-01T00:00:00Z" }),
      "GET /v1/functions": () => json(200, { items: [] }),
    });
    renderApp("/login");
    const tenant = screen.getByLabelText("Tenant");
    await userEvent.clear(tenant);
    await userEvent.type(tenant, "acme");
    await userEvent.click(screen.getByRole("button", { name: "Get a development token" }));
    expect(await screen.findByRole("heading", { name: "No functions yet" })).toBeInTheDocument();
    expect(sessionStorage.getItem("eventflow.token")).toBe("dev-token");
    expect(JSON.parse(api.calls.find((c) => c.path === "/auth/token")?.body ?? "{}")).toEqual({ tenant: "acme" });
    const list = api.calls.find((c) => c.path === "/v1/functions");
    expect(list?.headers.get("Authorization")).toBe("Bearer dev-token");
  });

  it("checks the tenant name before asking", async () => {
    const api = fakeApi({});
    renderApp("/login");
    const tenant = screen.getByLabelText("Tenant");
    await userEvent.clear(tenant);
    await userEvent.type(tenant, "Not Valid");
    await userEvent.click(screen.getByRole("button", { name: "Get a development token" }));
    expect(await screen.findByText(/Lower-case letters/)).toBeInTheDocument();
    expect(tenant).toHaveAttribute("aria-invalid", "true");
    expect(api.calls).toHaveLength(0);
  });

  it("goes back to the login page with a message when the API rejects the token", async () => {
    fakeApi({ "GET /v1/functions": () => apiError(401, "unauthenticated", "token is expired") });
    setToken("old");
    renderApp("/");
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Your token was rejected (token is expired). Sign in again.");
    expect(screen.getByRole("heading", { name: "Sign in with a token" })).toBeInTheDocument();
    await waitFor(() => expect(getToken()).toBeNull());
  });

  it("signs in with a pasted token", async () => {
    fakeApi({ "GET /v1/functions": () => json(200, { items: [] }) });
    renderApp("/login");
    await userEvent.type(screen.getByLabelText("Bearer token"), "Bearer pasted.jwt.value");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("heading", { name: "Functions", level: 1 })).toBeInTheDocument();
    expect(getToken()).toBe("pasted.jwt.value");
  });

  it("after signing in, goes on to the page the visitor asked for", async () => {
    fakeApi({});
    renderApp("/functions/new?from=link");
    await userEvent.type(await screen.findByLabelText("Bearer token"), "pasted.jwt.value");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("heading", { name: "New function", level: 1 })).toBeInTheDocument();
  });

  it("signs out when a stream is refused mid-session, with the reason", async () => {
    setToken("was-fine");
    fakeApi({
      "GET /v1/functions": () => json(200, { items: [] }),
      "GET /v1/events": () => apiError(401, "unauthenticated", "token has expired"),
    });
    renderApp("/");
    expect(await screen.findByText("Your token was rejected (token has expired). Sign in again.")).toBeInTheDocument();
    expect(getToken()).toBeNull();
  });
});
