// A confirmation before an action that cannot be taken back and sits next to everyday ones:
// Power off and Power cycle (the guest stops as if its power cord were pulled) on a VM's page,
// Abort on a migration. vSphere asks "Are you sure?" for the same actions. Nothing is sent
// before the confirm button; Cancel, Escape and the close button send nothing.
import { Button, Modal, ModalBody, ModalFooter, ModalHeader } from "@patternfly/react-core";
import { useId, type ReactNode } from "react";
import { ErrorAlert } from "../feedback.tsx";

export interface ConfirmDialogProps {
  /** The question, e.g. "Power off web01?". */
  readonly title: string;
  /** What happens, in a sentence or two. */
  readonly children: ReactNode;
  /** The confirm button's words, naming the action ("Power off web01"). */
  readonly confirm: string;
  readonly busy?: boolean;
  /** The failure of the action, shown inside the dialog, which stays open. */
  readonly error?: unknown;
  readonly onConfirm: () => void;
  readonly onCancel: () => void;
}

export function ConfirmDialog({ title, children, confirm, busy = false, error = null, onConfirm, onCancel }: ConfirmDialogProps) {
  const labelId = useId();
  const bodyId = useId();
  return (
    <Modal isOpen variant="small" onClose={onCancel} aria-labelledby={labelId} aria-describedby={bodyId}>
      <ModalHeader title={title} labelId={labelId} titleIconVariant="warning" />
      <ModalBody id={bodyId}>
        {children}
        <ErrorAlert title="It did not happen" error={error} />
      </ModalBody>
      <ModalFooter>
        <Button variant="danger" onClick={onConfirm} isDisabled={busy} isLoading={busy}>
          {confirm}
        </Button>
        <Button variant="link" onClick={onCancel}>
          Cancel
        </Button>
      </ModalFooter>
    </Modal>
  );
}

/** Abort a migration? The VM keeps running on its source; the copy made so far is thrown away. */
export function AbortConfirm({ task, onConfirm, onCancel }: { task: { readonly vm: string; readonly source: string; readonly destination: string }; onConfirm: () => void; onCancel: () => void }) {
  return (
    <ConfirmDialog title={`Abort the migration of ${task.vm}?`} confirm="Yes, abort the migration" onConfirm={onConfirm} onCancel={onCancel}>
      <p>
        {task.vm} stays on {task.source} and keeps running; what was copied to {task.destination} so far is thrown away, and a new migration starts from the beginning.
      </p>
    </ConfirmDialog>
  );
}
