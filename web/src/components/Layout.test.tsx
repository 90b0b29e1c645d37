import { describe, expect, it } from "vitest";
import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { renderApp } from "../test/render";
import { fakeApi, json } from "../test/fakeApi";
import { functionView } from "../test/fixtures";
import { setToken } from "../auth/session";

describe("layout", () => {
  it("offers a skip link to the content, and moves the focus there when the page changes", async () => {
    setToken("t");
    fakeApi({
      "GET /v1/functions": () => json(200, { items: [functionView("shout")] }),
      "GET /v1/functions/shout": () => json(200, functionView("shout")),
      "GET /v1/functions/shout/invocations": () => json(200, { items: [] }),
    });
    const user = userEvent.setup();
    renderApp("/");
    const main = screen.getByRole("main");
    expect(screen.getByRole("link", { name: "Skip to content" })).toHaveAttribute("href", "#main");
    expect(main).toHaveAttribute("id", "main");
    expect(main).not.toHaveFocus();

    await user.click(await screen.findByRole("link", { name: "shout" }));
    expect(await screen.findByRole("heading", { name: "shout", level: 1 })).toBeInTheDocument();
    expect(main).toHaveFocus();
  });
});
