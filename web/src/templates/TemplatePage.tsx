// A template: what VMs deployed from it get, and its CPUID mask (PUT /api/templates/{name}/mask),
// which every VM deployed from it takes unless the VM has a mask of its own. The controller
// refuses a mask naming a flag no guest sees, and a change while a VM taking it migrates: Save
// says why beside it.
import { Alert, DescriptionList, DescriptionListDescription, DescriptionListGroup, DescriptionListTerm, Form, Title } from "@patternfly/react-core";
import { useState } from "react";
import { apiSend, seg } from "../api.ts";
import { MaskEditor, NO_MASK, describeMask, maskProblem, sameMask } from "../cpu/MaskEditor.tsx";
import { ButtonWithReason, ErrorAlert } from "../feedback.tsx";
import { useInventory } from "../inventory/inventory.tsx";
import { hrefs } from "../router.ts";
import { useSession } from "../session.tsx";
import type { CpuidMask, Template, Vm } from "../types.ts";

/** Why the template's mask cannot change now: a VM that takes it migrates (the controller would refuse). */
function migratingTakers(template: string, takers: readonly Vm[]): string | null {
  const moving = takers.filter((vm) => vm.migrating).map((vm) => vm.name);
  if (moving.length === 0) return null;
  return `${moving.join(", ")} ${moving.length === 1 ? "takes this mask and is" : "take this mask and are"} migrating: change the mask of ${template} once the migration ends.`;
}

function TemplateMask({ template, takers, onSaved }: { template: Template; takers: readonly Vm[]; onSaved: (message: string) => void }) {
  const [mask, setMask] = useState<CpuidMask>(template.cpuidMask ?? NO_MASK);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const moving = migratingTakers(template.name, takers);
  const saveReason = moving ?? maskProblem(mask) ?? (sameMask(mask, template.cpuidMask) ? "The mask is as saved." : null);
  const send = (value: CpuidMask | null): void => {
    setBusy(true);
    setError(null);
    apiSend("PUT", `/templates/${seg(template.name)}/mask`, { cpuidMask: value }).then(
      () => {
        setBusy(false);
        onSaved(value === null ? `Cleared the CPUID mask of ${template.name}.` : `Set the CPUID mask of ${template.name}: ${describeMask(value)}.`);
      },
      (e: unknown) => {
        setError(e);
        setBusy(false);
      },
    );
  };
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        if (saveReason === null) send(mask);
      }}
    >
      <MaskEditor id="template-mask" value={mask} onChange={setMask} />
      <ErrorAlert title="The mask was not saved" error={error} />
      <div className="ferry-actions">
        <ButtonWithReason variant="primary" type="submit" disabledReason={busy ? "Saving…" : saveReason} isLoading={busy}>
          Save mask
        </ButtonWithReason>
        {template.cpuidMask !== undefined && (
          <ButtonWithReason variant="secondary" onClick={() => { send(null); }} disabledReason={busy ? "Saving…" : moving}>
            Clear mask
          </ButtonWithReason>
        )}
      </div>
    </Form>
  );
}

export function TemplatePage({ name }: { name: string }) {
  const { inventory, error, reload } = useInventory();
  const { canEdit } = useSession();
  const [notice, setNotice] = useState<string | null>(null);
  if (inventory === null) return error === null ? <p className="ferry-loading">Loading…</p> : <Alert variant="danger" isInline title="Cannot load the inventory">{error}</Alert>;
  const template = inventory.templates.find((t) => t.name === name);
  if (template === undefined)
    return (
      <Alert variant="warning" isInline title={`No template named “${name}”`}>
        Pick a template in the inventory.
      </Alert>
    );
  const deployed = inventory.vms.filter((vm) => vm.template === name);
  return (
    <section aria-label={`Template ${name}`}>
      <Title headingLevel="h1">Template {name}</Title>
      <DescriptionList isHorizontal isCompact>
        <DescriptionListGroup>
          <DescriptionListTerm>Guest OS</DescriptionListTerm>
          <DescriptionListDescription>
            {template.guest.os}, {template.guest.bits}-bit
          </DescriptionListDescription>
        </DescriptionListGroup>
        <DescriptionListGroup>
          <DescriptionListTerm>vCPUs, memory</DescriptionListTerm>
          <DescriptionListDescription>
            {template.vcpus} vCPUs, {template.memoryMB} MB
          </DescriptionListDescription>
        </DescriptionListGroup>
        <DescriptionListGroup>
          <DescriptionListTerm>CPUID mask</DescriptionListTerm>
          <DescriptionListDescription>{describeMask(template.cpuidMask)}</DescriptionListDescription>
        </DescriptionListGroup>
        <DescriptionListGroup>
          <DescriptionListTerm>VMs deployed from it</DescriptionListTerm>
          <DescriptionListDescription>
            {deployed.length === 0
              ? "none"
              : deployed.map((vm, i) => (
                  <span key={vm.name}>
                    {i > 0 ? ", " : ""}
                    <a href={hrefs.vm(vm.name)}>{vm.name}</a>
                    {vm.cpuidMask !== undefined ? " (own mask)" : ""}
                  </span>
                ))}
          </DescriptionListDescription>
        </DescriptionListGroup>
      </DescriptionList>
      {notice !== null && <Alert variant="success" isInline title={notice} />}
      {canEdit && (
        <section className="ferry-section" aria-label="CPUID mask">
          <Title headingLevel="h2">CPUID mask</Title>
          <p>VMs deployed from {name} take this mask unless they have one of their own.</p>
          <TemplateMask
            key={JSON.stringify(template.cpuidMask ?? null)}
            template={template}
            takers={deployed.filter((vm) => vm.cpuidMask === undefined)}
            onSaved={(message) => {
              setNotice(message);
              void reload();
            }}
          />
        </section>
      )}
    </section>
  );
}
