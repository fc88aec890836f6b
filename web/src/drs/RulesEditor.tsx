// DRS rules of a cluster (those naming its VMs or hosts): listed in words, added (VM–VM
// affinity / anti-affinity, VM–host must / should, run on / not on) with PUT
// /api/drs/rules/{name}, removed with DELETE. The controller checks the VMs and hosts exist;
// its refusal is shown in its words. Read-only tokens see the list only.
import { Button, Checkbox, Form, FormGroup, FormSelect, FormSelectOption, Radio, TextInput } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "../table.tsx";
import { useState } from "react";
import { apiSend, seg } from "../api.ts";
import { ErrorAlert, useApiGet } from "../feedback.tsx";
import type { DrsRule, DrsRuleKind } from "./model.ts";
import { ruleWords } from "./model.ts";

const KIND_WORDS: Record<DrsRuleKind, string> = {
  "vm-affinity": "Keep VMs together (affinity)",
  "vm-anti-affinity": "Keep VMs apart (anti-affinity)",
  "vm-host": "VMs to hosts",
};
const KINDS = Object.keys(KIND_WORDS) as DrsRuleKind[];

interface Draft {
  name: string;
  kind: DrsRuleKind;
  vms: readonly string[];
  hosts: readonly string[];
  mandatory: boolean;
  affine: boolean;
}

/** The rule a draft makes, or why not yet (what the controller would refuse anyway, said before sending). */
export function ruleOf(draft: Draft, existing: readonly DrsRule[]): { rule: DrsRule } | { error: string } {
  const name = draft.name.trim();
  if (name === "") return { error: "Name the rule." };
  if (existing.some((r) => r.name === name)) return { error: `A rule named ${name} exists: remove it first to replace it.` };
  if (draft.kind === "vm-host") {
    if (draft.vms.length === 0) return { error: "Pick at least one VM." };
    if (draft.hosts.length === 0) return { error: "Pick at least one host." };
    return { rule: { kind: "vm-host", name, vms: [...draft.vms], hosts: [...draft.hosts], mandatory: draft.mandatory, affine: draft.affine, enabled: true } };
  }
  if (draft.vms.length < 2) return { error: "Pick at least two VMs." };
  return { rule: { kind: draft.kind, name, vms: [...draft.vms], enabled: true } };
}

function toggle(list: readonly string[], item: string, on: boolean): string[] {
  return on ? [...list.filter((x) => x !== item), item] : list.filter((x) => x !== item);
}

function Picks({ id, label, options, chosen, onChange }: { id: string; label: string; options: readonly string[]; chosen: readonly string[]; onChange: (next: string[]) => void }) {
  return (
    <FormGroup label={label} fieldId={id} role="group">
      <div className="ferry-flags">
        {options.map((o) => (
          <Checkbox key={o} id={`${id}-${o}`} label={o} isChecked={chosen.includes(o)} onChange={(_e, on) => { onChange(toggle(chosen, o, on)); }} />
        ))}
      </div>
    </FormGroup>
  );
}

function AddRule({ vms, hosts, existing, onAdded }: { vms: readonly string[]; hosts: readonly string[]; existing: readonly DrsRule[]; onAdded: (name: string) => void }) {
  const [draft, setDraft] = useState<Draft>({ name: "", kind: "vm-anti-affinity", vms: [], hosts: [], mandatory: true, affine: true });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const made = ruleOf(draft, existing);
  const set = (change: Partial<Draft>): void => {
    setDraft({ ...draft, ...change });
  };
  const add = (): void => {
    if (!("rule" in made)) return;
    setBusy(true);
    setError(null);
    apiSend("PUT", `/drs/rules/${seg(made.rule.name)}`, made.rule)
      .then(() => {
        setDraft({ ...draft, name: "", vms: [], hosts: [] });
        onAdded(made.rule.name);
      })
      .catch((e: unknown) => {
        setError(e);
      })
      .finally(() => {
        setBusy(false);
      });
  };
  return (
    <Form className="ferry-narrow-form" aria-label="Add a DRS rule" onSubmit={(e) => { e.preventDefault(); add(); }}>
      <strong>Add a rule</strong>
      <FormGroup label="Rule name" fieldId="rule-name">
        <TextInput id="rule-name" value={draft.name} onChange={(_e, v) => { set({ name: v }); }} />
      </FormGroup>
      <FormGroup label="Kind" fieldId="rule-kind">
        <FormSelect id="rule-kind" value={draft.kind} onChange={(_e, v) => { set({ kind: KINDS.find((k) => k === v) ?? draft.kind }); }}>
          {KINDS.map((k) => (
            <FormSelectOption key={k} value={k} label={KIND_WORDS[k]} />
          ))}
        </FormSelect>
      </FormGroup>
      <Picks id="rule-vms" label="VMs" options={vms} chosen={draft.vms} onChange={(next) => { set({ vms: next }); }} />
      {draft.kind === "vm-host" && (
        <>
          <Picks id="rule-hosts" label="Hosts" options={hosts} chosen={draft.hosts} onChange={(next) => { set({ hosts: next }); }} />
          <FormGroup label="The VMs" fieldId="rule-mandatory" role="radiogroup" isInline>
            <Radio id="rule-must" name="rule-mandatory" label="must" isChecked={draft.mandatory} onChange={() => { set({ mandatory: true }); }} />
            <Radio id="rule-should" name="rule-mandatory" label="should" isChecked={!draft.mandatory} onChange={() => { set({ mandatory: false }); }} />
          </FormGroup>
          <FormGroup label="Where" fieldId="rule-affine" role="radiogroup" isInline>
            <Radio id="rule-on" name="rule-affine" label="run on these hosts" isChecked={draft.affine} onChange={() => { set({ affine: true }); }} />
            <Radio id="rule-not-on" name="rule-affine" label="not run on these hosts" isChecked={!draft.affine} onChange={() => { set({ affine: false }); }} />
          </FormGroup>
        </>
      )}
      {"error" in made && draft.name !== "" && <p className="ferry-muted">{made.error}</p>}
      <ErrorAlert title="The rule was not added" error={error} />
      <div className="ferry-actions">
        <Button variant="primary" type="submit" isDisabled={!("rule" in made) || busy} isLoading={busy}>
          Add rule
        </Button>
      </div>
    </Form>
  );
}

export function RulesEditor({ vms, hosts, canEdit }: { vms: readonly string[]; hosts: readonly string[]; canEdit: boolean }) {
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const rules = useApiGet<DrsRule[]>("/drs/rules", version);
  const mine = (rules.data ?? []).filter((r) => r.vms.some((v) => vms.includes(v)) || (r.kind === "vm-host" && r.hosts.some((h) => hosts.includes(h))));
  const remove = (name: string): void => {
    setError(null);
    apiSend("DELETE", `/drs/rules/${seg(name)}`).then(
      () => {
        setNotice(`Removed rule ${name}.`);
        setVersion((v) => v + 1);
      },
      (e: unknown) => {
        setError(e);
      },
    );
  };
  return (
    <section className="ferry-section" aria-label="DRS rules">
      <ErrorAlert title="Cannot load the DRS rules" error={rules.error} />
      <ErrorAlert title="The rule was not removed" error={error} />
      {notice !== null && <p role="status">{notice}</p>}
      {mine.length === 0 ? (
        <p className="ferry-muted">No rules name this cluster's VMs.</p>
      ) : (
        <Table aria-label="DRS rules of the cluster" variant="compact">
          <Thead>
            <Tr>
              <Th>Rule</Th>
              <Th>What it says</Th>
              <Th>Enabled</Th>
              {canEdit && <Th screenReaderText="Actions" />}
            </Tr>
          </Thead>
          <Tbody>
            {mine.map((r) => (
              <Tr key={r.name}>
                <Td dataLabel="Rule">{r.name}</Td>
                <Td dataLabel="What it says">{ruleWords(r)}</Td>
                <Td dataLabel="Enabled">{r.enabled ? "yes" : "no"}</Td>
                {canEdit && (
                  <Td dataLabel="Actions">
                    <Button variant="danger" size="sm" aria-label={`Remove rule ${r.name}`} onClick={() => { remove(r.name); }}>
                      Remove
                    </Button>
                  </Td>
                )}
              </Tr>
            ))}
          </Tbody>
        </Table>
      )}
      {canEdit && <AddRule vms={vms} hosts={hosts} existing={rules.data ?? []} onAdded={(name) => { setNotice(`Added rule ${name}.`); setVersion((v) => v + 1); }} />}
    </section>
  );
}
