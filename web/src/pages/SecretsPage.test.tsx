import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { renderApp } from "../test/render";
import { apiError, fakeApi, json } from "../test/fakeApi";
import { setToken } from "../auth/session";
import type { SecretView } from "../api/types";

const VALUE = "s3cr3t-value-never-shown";

function secret(name: string, over: Partial<SecretView> = {}): SecretView {
  return { name, version: 1, size: 12, createdAt: "2026-01-01T00:00:00Z", updatedAt: "2026-01-01T00:00:00Z", usedBy: [], ...over };
}

describe("secrets page", () => {
  it("is reached from the header, and lists name, version, size, updated and the functions using each", async () => {
    setToken("t");
    fakeApi({
      "GET /v1/functions": () => json(200, { items: [] }),
      "GET /v1/secrets": () => json(200, { items: [secret("api-key", { version: 3, size: 2048, usedBy: ["shout", "whisper"] }), secret("db-url")] }),
    });
    const user = userEvent.setup();
    renderApp("/");
    const nav = screen.getByRole("navigation", { name: "Sections" });
    expect(within(nav).getByRole("link", { name: "Functions" })).toHaveAttribute("aria-current", "page");
    await user.click(within(nav).getByRole("link", { name: "Secrets" }));
    expect(await screen.findByRole("heading", { name: "Secrets", level: 1 })).toBeInTheDocument();
    expect(within(nav).getByRole("link", { name: "Secrets" })).toHaveAttribute("aria-current", "page");

    const table = await screen.findByRole("table", { name: "Secrets, by name" });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows).toHaveLength(2);
    expect(within(rows[0]!).getByRole("rowheader")).toHaveTextContent("api-key");
    const cells = within(rows[0]!).getAllByRole("cell");
    expect(cells[0]).toHaveTextContent("3");
    expect(cells[1]).toHaveTextContent("2.0 KiB");
    expect(cells[2]!.querySelector("time")).toHaveAttribute("datetime", "2026-01-01T00:00:00Z");
    expect(within(cells[3]!).getByRole("link", { name: "shout" })).toHaveAttribute("href", "/functions/shout");
    expect(within(cells[3]!).getByRole("link", { name: "whisper" })).toBeInTheDocument();
    expect(within(rows[1]!).getAllByRole("cell")[3]).toHaveTextContent("—");
    expect(screen.getByRole("button", { name: "Delete secret db-url" })).toBeInTheDocument();
  });

  it("creates a secret from a password field that is emptied on submit, and never renders the value", async () => {
    setToken("t");
    let stored: SecretView[] = [];
    const api = fakeApi({
      "GET /v1/secrets": () => json(200, { items: stored }),
      "PUT /v1/secrets/api-key": () => {
        stored = [secret("api-key", { size: VALUE.length })];
        return json(201, stored[0]);
      },
    });
    const user = userEvent.setup();
    const { container } = renderApp("/secrets");
    expect(await screen.findByText("No secrets yet")).toBeInTheDocument();
    const value = screen.getByLabelText("Value");
    expect(value).toHaveAttribute("type", "password");
    await user.type(screen.getByLabelText("Secret name"), "api-key");
    await user.type(value, VALUE);
    // Uncontrolled: what is typed is the field's value, never an attribute of the page's HTML.
    expect(container.innerHTML).not.toContain(VALUE);
    await user.click(screen.getByRole("button", { name: "Create secret" }));

    expect(await screen.findByText("Saved api-key: version 1.")).toHaveAttribute("role", "status");
    expect(value).toHaveValue("");
    expect(screen.getByLabelText("Secret name")).toHaveValue("");
    const put = api.calls.find((c) => c.method === "PUT");
    expect(put?.path).toBe("/v1/secrets/api-key");
    expect(JSON.parse(put!.body)).toEqual({ value: VALUE });
    expect(put?.headers.get("Authorization")).toBe("Bearer t");
    await screen.findByRole("rowheader", { name: "api-key" });
    expect(document.body.innerHTML).not.toContain(VALUE);
    expect(document.body.textContent).not.toContain(VALUE);
  });

  it("empties the value also when the API refuses it, and shows why", async () => {
    setToken("t");
    fakeApi({
      "GET /v1/secrets": () => json(200, { items: [secret("api-key", { version: 2, usedBy: ["shout"] })] }),
      "PUT /v1/secrets/api-key": () => apiError(413, "payload_too_large", "the value is larger than 64 KiB"),
    });
    const user = userEvent.setup();
    renderApp("/secrets");
    // Replace: the row's button fills in the name; the button and the hint say it replaces and rolls.
    await user.click(await screen.findByRole("button", { name: "Replace the value of api-key" }));
    expect(screen.getByLabelText("Secret name")).toHaveValue("api-key");
    expect(screen.getByLabelText("Value")).toHaveFocus();
    expect(screen.getByLabelText("Value")).toHaveAccessibleDescription(/Replaces version 2; every function using it rolls/);
    await user.type(screen.getByLabelText("Value"), VALUE);
    await user.click(screen.getByRole("button", { name: "Replace secret" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("The secret was not saved");
    expect(alert).toHaveTextContent("the value is larger than 64 KiB");
    expect(screen.getByLabelText("Value")).toHaveValue("");
    expect(document.body.innerHTML).not.toContain(VALUE);
  });

  it("checks the name and that there is a value before sending", async () => {
    setToken("t");
    const api = fakeApi({ "GET /v1/secrets": () => json(200, { items: [] }) });
    const user = userEvent.setup();
    renderApp("/secrets");
    await screen.findByText("No secrets yet");
    await user.type(screen.getByLabelText("Secret name"), "Bad_Name");
    await user.click(screen.getByRole("button", { name: "Create secret" }));
    expect(screen.getByLabelText("Secret name")).toHaveAccessibleDescription(/Lower-case letters/);
    await user.clear(screen.getByLabelText("Secret name"));
    await user.type(screen.getByLabelText("Secret name"), "ok");
    await user.click(screen.getByRole("button", { name: "Create secret" }));
    expect(screen.getByLabelText("Value")).toHaveAccessibleDescription("A value is required");
    expect(api.calls.filter((c) => c.method === "PUT")).toHaveLength(0);
  });

  it("deletes only once confirmed, and shows the API's 409 naming the functions that use it", async () => {
    setToken("t");
    let items = [secret("api-key", { usedBy: ["shout"] }), secret("old")];
    const api = fakeApi({
      "GET /v1/secrets": () => json(200, { items }),
      "DELETE /v1/secrets/api-key": () => apiError(409, "conflict", 'secret "api-key" is used by functions: shout'),
      "DELETE /v1/secrets/old": () => {
        items = items.filter((s) => s.name !== "old");
        return new Response(null, { status: 204 });
      },
    });
    const user = userEvent.setup();
    renderApp("/secrets");
    await user.click(await screen.findByRole("button", { name: "Delete secret api-key" }));
    let dialog = screen.getByRole("dialog", { name: "Delete secret api-key?" });
    expect(dialog).toHaveTextContent(/functions use it \(shout\)/);
    await user.click(within(dialog).getByRole("button", { name: "Delete secret" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent('secret "api-key" is used by functions: shout');
    expect(screen.getByRole("dialog")).toBeInTheDocument();
    await user.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Delete secret old" }));
    dialog = screen.getByRole("dialog", { name: "Delete secret old?" });
    await user.click(within(dialog).getByRole("button", { name: "Delete secret" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    await waitFor(() => expect(screen.queryByRole("rowheader", { name: "old" })).not.toBeInTheDocument());
    expect(api.calls.filter((c) => c.method === "DELETE").map((c) => c.path)).toEqual(["/v1/secrets/api-key", "/v1/secrets/old"]);
  });

  it("says so when the platform has no secrets configured (503 unavailable)", async () => {
    setToken("t");
    fakeApi({ "GET /v1/secrets": () => apiError(503, "unavailable", "secrets are not configured on this platform") });
    renderApp("/secrets");
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Secrets are not available");
    expect(alert).toHaveTextContent("secrets are not configured on this platform");
    expect(screen.queryByLabelText("Value")).not.toBeInTheDocument();
  });
});
