// A cluster's DRS settings: automation level, migration threshold and the move caps, saved with
// PUT /api/clusters/{c}/drs (only what changed is sent). The controller validates; a refusal
// is shown in its words. Read-only tokens see the settings, not the editor.
import { Button, Form, FormGroup, FormSelect, FormSelectOption, TextInput } from "@patternfly/react-core";
import { useState } from "react";
import { apiSend, seg } from "../api.ts";
import { ErrorAlert } from "../feedback.tsx";
import type { DrsAutomation, DrsConfig } from "./model.ts";
import { AUTOMATION_WORDS, THRESHOLD_WORDS } from "./model.ts";

const AUTOMATIONS: readonly DrsAutomation[] = ["manual", "partial", "full"];

/** A cap as typed: a number goes to the controller (which says what it accepts), anything else is refused here. */
function capValue(text: string): number | null {
  const trimmed = text.trim();
  return trimmed !== "" && Number.isFinite(Number(trimmed)) ? Number(trimmed) : null;
}

function patchOf(config: DrsConfig, form: { automation: DrsAutomation; threshold: number; perRun: number | null; perHost: number | null }): Partial<DrsConfig> {
  const patch: Partial<DrsConfig> = {};
  if (form.automation !== config.automation) patch.automation = form.automation;
  if (form.threshold !== config.threshold) patch.threshold = form.threshold;
  if (form.perRun !== null && form.perRun !== config.maxMovesPerRun) patch.maxMovesPerRun = form.perRun;
  if (form.perHost !== null && form.perHost !== config.maxMovesPerHost) patch.maxMovesPerHost = form.perHost;
  return patch;
}

export function DrsSettings({ cluster, config, canEdit, onSaved }: { cluster: string; config: DrsConfig; canEdit: boolean; onSaved: (config: DrsConfig) => void }) {
  const [automation, setAutomation] = useState<DrsAutomation>(config.automation);
  const [threshold, setThreshold] = useState(config.threshold);
  const [perRun, setPerRun] = useState(String(config.maxMovesPerRun));
  const [perHost, setPerHost] = useState(String(config.maxMovesPerHost));
  const [error, setError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState(false);
  const form = { automation, threshold, perRun: capValue(perRun), perHost: capValue(perHost) };
  const patch = patchOf(config, form);
  const typed = form.perRun !== null && form.perHost !== null;
  const changed = Object.keys(patch).length > 0;

  const save = (): void => {
    setSaving(true);
    setError(null);
    setSaved(false);
    apiSend<DrsConfig>("PUT", `/clusters/${seg(cluster)}/drs`, patch)
      .then((now) => {
        setSaved(true);
        onSaved(now);
      })
      .catch((e: unknown) => {
        setError(e);
      })
      .finally(() => {
        setSaving(false);
      });
  };

  return (
    <Form
      className="ferry-narrow-form"
      aria-label={`DRS settings of ${cluster}`}
      onSubmit={(e) => {
        e.preventDefault();
        if (canEdit && changed && typed) save();
      }}
    >
      <FormGroup label="Automation level" fieldId="drs-automation">
        <FormSelect id="drs-automation" value={automation} isDisabled={!canEdit} onChange={(_e, v) => { setAutomation(AUTOMATIONS.find((a) => a === v) ?? config.automation); setSaved(false); }}>
          {AUTOMATIONS.map((a) => (
            <FormSelectOption key={a} value={a} label={AUTOMATION_WORDS[a]} />
          ))}
        </FormSelect>
      </FormGroup>
      <FormGroup label="Migration threshold" fieldId="drs-threshold">
        <FormSelect id="drs-threshold" value={String(threshold)} isDisabled={!canEdit} onChange={(_e, v) => { setThreshold(Number(v)); setSaved(false); }}>
          {[1, 2, 3, 4, 5].map((t) => (
            <FormSelectOption key={t} value={String(t)} label={THRESHOLD_WORDS[t] ?? String(t)} />
          ))}
        </FormSelect>
      </FormGroup>
      <FormGroup label="Most moves per run" fieldId="drs-per-run">
        <TextInput id="drs-per-run" value={perRun} isDisabled={!canEdit} validated={form.perRun === null ? "error" : "default"} onChange={(_e, v) => { setPerRun(v); setSaved(false); }} />
      </FormGroup>
      <FormGroup label="Most moves per host in a run" fieldId="drs-per-host">
        <TextInput id="drs-per-host" value={perHost} isDisabled={!canEdit} validated={form.perHost === null ? "error" : "default"} onChange={(_e, v) => { setPerHost(v); setSaved(false); }} />
      </FormGroup>
      {!typed && <p className="ferry-error-text">Enter the caps as whole numbers.</p>}
      <ErrorAlert title="The DRS settings were not saved" error={error} />
      {saved && <p role="status">Saved the DRS settings of {cluster}.</p>}
      {canEdit && (
        <div className="ferry-actions">
          <Button variant="primary" type="submit" isDisabled={!changed || !typed || saving} isLoading={saving}>
            Save settings
          </Button>
        </div>
      )}
    </Form>
  );
}
