// "Delete…" on a VM's page: only a powered-off VM that is not migrating can go (the button
// says why beside it when it cannot), after a confirmation that asks whether its disk files go too
// (DELETE /api/vms/{name}?disks=keep|remove). ISOs are never removed; kept disks can be
// imported into another VM as existing images.
import { Button, Checkbox, Modal, ModalBody, ModalFooter, ModalHeader } from "@patternfly/react-core";
import { useState } from "react";
import type { z } from "zod";
import type { ChangedSchema } from "../../../src/api/schemas.ts";
import { apiSend, seg } from "../api.ts";
import { ButtonWithReason, ErrorAlert } from "../feedback.tsx";
import { useInventory } from "../inventory/inventory.tsx";
import { hrefs, navigate } from "../router.ts";
import type { Vm } from "../types.ts";

/** Why `vm` cannot be deleted now, or null when it can. */
export function deleteBlocked(vm: Vm): string | null {
  if (vm.migrating) return `${vm.name} is migrating: delete it once the migration has ended and it is powered off.`;
  if (vm.power !== "off") return `${vm.name} is ${vm.power === "on" ? "powered on" : vm.power}: power it off first; only a powered-off VM can be deleted.`;
  return null;
}

export function DeleteVmButton({ vm, onDelete }: { vm: Vm; onDelete: () => void }) {
  return (
    <ButtonWithReason variant="danger" disabledReason={deleteBlocked(vm)} onClick={onDelete}>
      Delete…
    </ButtonWithReason>
  );
}

export function DeleteVmModal({ vm, onClose }: { vm: Vm; onClose: () => void }) {
  const { reload } = useInventory();
  const [removeDisks, setRemoveDisks] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const files = vm.disks.map((d) => `${d.path ?? d.name} on ${d.datastore}`);

  const remove = (): void => {
    setBusy(true);
    setError(null);
    apiSend<z.infer<typeof ChangedSchema>>("DELETE", `/vms/${seg(vm.name)}?disks=${removeDisks ? "remove" : "keep"}`).then(
      () => {
        // The page of a VM that is gone has nothing to show: its host's page has.
        navigate(hrefs.host(vm.host));
        void reload();
      },
      (e: unknown) => {
        setError(e);
        setBusy(false);
      },
    );
  };

  return (
    <Modal isOpen variant="small" onClose={onClose} aria-labelledby="delete-vm-title">
      <ModalHeader title={`Delete ${vm.name}?`} labelId="delete-vm-title" titleIconVariant="warning" />
      <ModalBody>
        <p>
          {vm.name} leaves the inventory and {vm.host}. {files.length === 0 ? "It has no disks." : `Its disks: ${files.join("; ")}.`}
        </p>
        {files.length > 0 && (
          <Checkbox
            id="delete-vm-disks"
            label="Also remove its disk files"
            description={removeDisks ? "The disk files are deleted from their datastores; this cannot be undone. ISOs are never removed." : "The disk files stay on their datastores: another VM can import them as existing images."}
            isChecked={removeDisks}
            onChange={(_e, checked) => { setRemoveDisks(checked); }}
          />
        )}
        <ErrorAlert title={`${vm.name} was not deleted`} error={error} />
      </ModalBody>
      <ModalFooter>
        <Button variant="danger" onClick={remove} isDisabled={busy} isLoading={busy}>
          Delete
        </Button>
        <Button variant="link" onClick={onClose}>
          Cancel
        </Button>
      </ModalFooter>
    </Modal>
  );
}
