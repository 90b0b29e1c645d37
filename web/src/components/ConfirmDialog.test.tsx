import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ConfirmDialog } from "./ConfirmDialog";

describe("ConfirmDialog", () => {
  it("is a labelled modal dialog that starts on Cancel, keeps focus inside and closes on Escape", async () => {
    const onCancel = vi.fn();
    const onConfirm = vi.fn();
    render(
      <ConfirmDialog title="Delete shout?" confirmLabel="Delete function" onCancel={onCancel} onConfirm={onConfirm}>
        It goes away.
      </ConfirmDialog>,
    );
    const dialog = screen.getByRole("dialog", { name: "Delete shout?" });
    expect(dialog).toHaveAttribute("aria-modal", "true");
    expect(dialog).toHaveAccessibleDescription("It goes away.");
    expect(screen.getByRole("button", { name: "Cancel" })).toHaveFocus();
    await userEvent.tab();
    expect(screen.getByRole("button", { name: "Delete function" })).toHaveFocus();
    await userEvent.tab();
    expect(screen.getByRole("button", { name: "Cancel" })).toHaveFocus();
    await userEvent.keyboard("{Escape}");
    expect(onCancel).toHaveBeenCalledOnce();
    await userEvent.click(screen.getByRole("button", { name: "Delete function" }));
    expect(onConfirm).toHaveBeenCalledOnce();
  });
});
