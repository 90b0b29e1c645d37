import { useState } from "react";
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
    await userEvent.tab({ shift: true });
    expect(screen.getByRole("button", { name: "Delete function" })).toHaveFocus();
    await userEvent.keyboard("{Escape}");
    expect(onCancel).toHaveBeenCalledOnce();
    await userEvent.click(screen.getByRole("button", { name: "Delete function" }));
    expect(onConfirm).toHaveBeenCalledOnce();
  });

  it("makes the page behind inert while open and gives the focus back on close", async () => {
    function Page() {
      const [open, setOpen] = useState(false);
      return (
        <>
          <button onClick={() => setOpen(true)}>Delete</button>
          {open && (
            <ConfirmDialog title="Delete shout?" confirmLabel="Delete function" onCancel={() => setOpen(false)} onConfirm={() => setOpen(false)}>
              It goes away.
            </ConfirmDialog>
          )}
        </>
      );
    }
    const { container } = render(<Page />);
    const opener = screen.getByRole("button", { name: "Delete" });
    await userEvent.click(opener);
    expect(container).toHaveAttribute("inert");
    // A click on the backdrop loses the focus; Escape still closes.
    (document.activeElement as HTMLElement).blur();
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(container).not.toHaveAttribute("inert");
    expect(opener).toHaveFocus();
  });

  it("keeps the focus inside while busy and does not confirm twice", async () => {
    const onConfirm = vi.fn();
    const { rerender } = render(
      <ConfirmDialog title="Delete shout?" confirmLabel="Delete function" onCancel={() => {}} onConfirm={onConfirm}>
        It goes away.
      </ConfirmDialog>,
    );
    const confirm = screen.getByRole("button", { name: "Delete function" });
    await userEvent.click(confirm);
    rerender(
      <ConfirmDialog title="Delete shout?" confirmLabel="Delete function" busy onCancel={() => {}} onConfirm={onConfirm}>
        It goes away.
      </ConfirmDialog>,
    );
    expect(confirm).toHaveFocus();
    expect(confirm).toHaveAttribute("aria-disabled", "true");
    await userEvent.click(confirm);
    expect(onConfirm).toHaveBeenCalledOnce();
  });
});
