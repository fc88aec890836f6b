// The migrate wizard (the seed's steps: target host, resource pool, priority, summary, Finish).
// A first compiling version so the app shell can mount it; the steps follow.
import { Modal, ModalBody, ModalHeader } from "@patternfly/react-core";

export function MigrateWizard({ vm, onClose }: { vm: string; onClose: () => void }) {
  return (
    <Modal isOpen variant="large" onClose={onClose} aria-label={`Migrate ${vm}`}>
      <ModalHeader title={`Migrate ${vm}`} />
      <ModalBody>Loading hosts…</ModalBody>
    </Modal>
  );
}
