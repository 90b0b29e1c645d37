import { useState } from "react";
import { useNavigate } from "react-router";
import { Trash2 } from "lucide-react";
import { useDeleteFunction } from "../../api/queries";
import { errorMessage } from "../../api/errors";
import { ConfirmDialog } from "../ConfirmDialog";
import { Button, ErrorAlert } from "../ui";

/** The delete button and its confirmation; back to the dashboard once the API accepted it. */
export function DeleteFunction({ name, disabled }: { name: string; disabled: boolean }) {
  const [open, setOpen] = useState(false);
  const del = useDeleteFunction();
  const navigate = useNavigate();
  return (
    <>
      <Button variant="danger" onClick={() => setOpen(true)} disabled={disabled}>
        <Trash2 aria-hidden className="size-4" /> Delete
      </Button>
      {open && (
        <ConfirmDialog
          title={`Delete ${name}?`}
          confirmLabel="Delete function"
          busy={del.isPending}
          onCancel={() => setOpen(false)}
          onConfirm={() => del.mutate(name, { onSuccess: () => void navigate("/") })}
        >
          <p>Its instances are stopped and it can no longer be invoked. Its invocation records stay until they expire.</p>
          {del.isError && <ErrorAlert title="Not deleted" message={errorMessage(del.error)} />}
        </ConfirmDialog>
      )}
    </>
  );
}
