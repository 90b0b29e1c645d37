import { describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { renderApp } from "../test/render";
import { apiError, fakeApi, json, type Call } from "../test/fakeApi";
import { setToken } from "../auth/session";
import { functionView } from "../test/fixtures";

function stored(name: string, generation = 1) {
  return functionView(name, { generation });
}

describe("function form page", () => {
  it("creates with If-None-Match: * and shows the API's 412 beside the name", async () => {
    setToken("t");
    const taken = 'function "upper" already exists; replace it with POST /v1/functions without If-None-Match: *, or PUT /v1/functions/upper';
    const { calls } = fakeApi({
      // The gateway's conditional create: refused unless the header asks for create-only.
      "POST /v1/functions": (call: Call) =>
        call.headers.get("If-None-Match") === "*" ? apiError(412, "already_exists", taken) : json(202, stored("upper", 2)),
    });
    renderApp("/functions/new");
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Name"), "upper");
    await user.type(screen.getByLabelText("Command line"), "cat");
    await user.click(screen.getByRole("button", { name: "Create function" }));
    await waitFor(() => expect(screen.getByLabelText("Name")).toHaveAccessibleDescription(taken));
    const posts = calls.filter((c) => c.method === "POST" && c.path === "/v1/functions");
    expect(posts).toHaveLength(1);
    expect(posts[0]?.headers.get("If-None-Match")).toBe("*");
    // No list is read to guess whether the name is free: the API's answer is the check.
    expect(calls.filter((c) => c.method === "GET" && c.path === "/v1/functions")).toHaveLength(0);
    expect(screen.getByRole("heading", { name: "New function", level: 1 })).toBeInTheDocument();
  });

  it("goes to the new function once created", async () => {
    setToken("t");
    fakeApi({
      "POST /v1/functions": (call: Call) => (call.headers.get("If-None-Match") === "*" ? json(202, stored("fresh")) : apiError(400, "bad_request", "create-only expected")),
      "GET /v1/functions/fresh": () => json(200, stored("fresh")),
    });
    renderApp("/functions/new");
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Name"), "fresh");
    await user.type(screen.getByLabelText("Command line"), "cat");
    await user.click(screen.getByRole("button", { name: "Create function" }));
    expect(await screen.findByRole("heading", { name: "fresh", level: 1 })).toBeInTheDocument();
  });

  it("saves an edit with PUT, unconditionally", async () => {
    setToken("t");
    const { calls } = fakeApi({
      "GET /v1/functions/upper": () => json(200, stored("upper")),
      "PUT /v1/functions/upper": () => json(202, stored("upper", 2)),
    });
    renderApp("/functions/upper/edit");
    const user = userEvent.setup();
    const timeout = await screen.findByLabelText("Timeout");
    await user.clear(timeout);
    await user.type(timeout, "2m");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(calls.some((c) => c.method === "PUT")).toBe(true));
    const put = calls.find((c) => c.method === "PUT");
    expect(put?.headers.get("If-None-Match")).toBeNull();
    expect(JSON.parse(put?.body ?? "{}")).toMatchObject({ name: "upper", invocation: { timeout: "2m" } });
  });

  it("suggests the tenant's secrets in the form and sends the ones named", async () => {
    setToken("t");
    const { calls } = fakeApi({
      "GET /v1/secrets": () => json(200, { items: [{ name: "api-key", version: 1, size: 3, createdAt: "2026-01-01T00:00:00Z", updatedAt: "2026-01-01T00:00:00Z", usedBy: [] }] }),
      "POST /v1/functions": () => json(202, stored("fresh")),
      "GET /v1/functions/fresh": () => json(200, stored("fresh")),
    });
    renderApp("/functions/new");
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Name"), "fresh");
    await user.type(screen.getByLabelText("Command line"), "cat");
    const add = screen.getByLabelText("Add a secret");
    await waitFor(() => expect(document.getElementById(add.getAttribute("list") ?? "")?.querySelector("option")).toHaveAttribute("value", "api-key"));
    await user.type(add, "api-key{Enter}");
    await user.click(screen.getByRole("button", { name: "Create function" }));
    expect(await screen.findByRole("heading", { name: "fresh", level: 1 })).toBeInTheDocument();
    const post = calls.find((c) => c.method === "POST" && c.path === "/v1/functions");
    expect(JSON.parse(post!.body).secrets).toEqual(["api-key"]);
  });
});
