import { useState } from "react";
import { useNavigate } from "react-router";
import { Trash2 } from "lucide-react";
import { useDeleteFunction } from "../../api/queries";
import { errorMessage } from "../../api/errors";
import { ConfirmDialog } from "../ConfirmDialog";
import { Button, ErrorAlert } from "../ui";

/**
 * The delete button and its confirmation; back to the dashboard once the API
 * accepted it. onLeaving tells the page to stop reading the function, which
 * may be gone (404) before the answer to the delete arrives.
 */
export function DeleteFunction({ name, disabled, onLeaving }: { name: string; disabled: boolean; onLeaving: (leaving: boolean) => void }) {
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
          onConfirm={() => {
            onLeaving(true);
            del.mutate(name, { onSuccess: () => void navigate("/"), onError: () => onLeaving(false) });
          }}
        >
          <p>Its instances are stopped and it can no longer be invoked. Its invocation records stay until they expire.</p>
          {del.isError && <ErrorAlert title="Not deleted" message={errorMessage(del.error)} />}
        </ConfirmDialog>
      )}
    </>
  );
}
