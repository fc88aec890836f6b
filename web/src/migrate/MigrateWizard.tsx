// The migrate wizard, the seed's steps (figures 9.36–9.40): 1 the target host, every host with
// its compatibility (errors block Next; warnings are listed and must be acknowledged); 2 the
// resource pool; 3 the priority; 4 a summary with the validation results and the engine's
// prediction from POST /api/migrations/preview; Finish starts it with POST /api/migrations and
// leaves a notice whose Details link opens the task it created (MigrationStarted.tsx).
// The pool preselected is the VM's own when the destination can take it, else the destination
// cluster's root pool, with the reason shown (pool-choice.ts). A powered-off VM moves cold, and
// the wizard says so instead of "live".
// Every host is checked for both priorities: a host that only a high-priority reservation
// refuses (not enough unreserved memory or CPU) can still be chosen, at low priority, as the
// checker's fix says.
// Whatever the API refuses is shown in its own words where the user is, never swallowed.
import {
  Alert,
  Checkbox,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Label,
  List,
  ListItem,
  Modal,
  Radio,
  Spinner,
  Title,
  Wizard,
  WizardHeader,
  WizardStep,
  type WizardStepType,
} from "@patternfly/react-core";
import { useEffect, useMemo, useState } from "react";
import type { MigrationPreview } from "../../../src/api/schemas.ts";
import { apiGet, apiSend, messageOf, seg } from "../api.ts";
import { FixText } from "../clusters/findings.tsx";
import { useInventory } from "../inventory/inventory.tsx";
import type { CheckResult, Finding, Task, WhereResult } from "../types.ts";
import { formatBytes, formatDuration } from "../tasks/format.ts";
import "../tasks/tasks.css";
import { WizardFooter } from "../WizardFooter.tsx";
import { announceStarted } from "./MigrationStarted.tsx";
import { poolChoice, type PoolChoice } from "./pool-choice.ts";

type Priority = "high" | "low";

const STEP = { host: "migrate-host", pool: "migrate-pool", priority: "migrate-priority", summary: "migrate-summary" } as const;

/** The host's compatibility in a few words: the radio's accessible name carries it. */
function verdict(result: CheckResult): string {
  if (result.errors.length > 0) return `incompatible: ${result.errors.length} error${result.errors.length === 1 ? "" : "s"}`;
  if (result.warnings.length > 0) return `compatible, ${result.warnings.length} warning${result.warnings.length === 1 ? "" : "s"} to acknowledge`;
  return "compatible";
}

export function FindingList({ findings, label }: { findings: readonly Finding[]; label: string }) {
  if (findings.length === 0) return null;
  return (
    <List aria-label={label} className="ferry-findings">
      {findings.map((f, i) => (
        <ListItem key={`${f.code}-${String(i)}`}>
          <Label color={f.severity === "error" ? "red" : "orange"} isCompact>
            {f.severity === "error" ? "Error" : "Warning"}
          </Label>{" "}
          <span className="ferry-finding-message">{f.message}</span>
          <div className="ferry-finding-fix">
            {/* No link inside the wizard: the page would open behind the dialog. */}
            Fix: <FixText finding={f} link={false} />
          </div>
        </ListItem>
      ))}
    </List>
  );
}

/** One host checked for both priorities. */
interface HostChecks {
  readonly host: string;
  readonly high: CheckResult;
  readonly low: CheckResult | undefined;
}

/** Only low priority can move the VM there: high's reservation is refused, nothing else is wrong. */
export function lowOnly(h: HostChecks): boolean {
  return h.high.errors.length > 0 && h.low !== undefined && h.low.errors.length === 0;
}

function hostLabel(h: HostChecks): string {
  if (lowOnly(h) && h.low !== undefined) {
    const w = h.low.warnings.length;
    return `${h.host} — compatible with low priority only${w > 0 ? `, ${String(w)} warning${w === 1 ? "" : "s"} to acknowledge` : ""}`;
  }
  return `${h.host} — ${verdict(h.high)}`;
}

function HostStep({ vm, current, hosts, error, host, check, onHost, acknowledged, onAcknowledge }: { vm: string; current: string | null; hosts: readonly HostChecks[] | null; error: string | null; host: string | null; check: CheckResult | undefined; onHost: (h: HostChecks) => void; acknowledged: boolean; onAcknowledge: (v: boolean) => void }) {
  if (error !== null) return <Alert variant="danger" isInline title="Cannot check the hosts">{error}</Alert>;
  if (hosts === null) return <Spinner size="lg" aria-label="Checking every host" />;
  const selected = hosts.find((h) => h.host === host);
  return (
    <>
      <p>
        {vm} runs on <strong>{current}</strong>. Every other host, checked for this VM (CPU, networks, storage, devices, resources):
      </p>
      {hosts.length === 0 && <Alert variant="info" isInline title="There is no other host to move to" />}
      <div role="radiogroup" aria-label="Target host">
        {hosts.map((h) => {
          const shown = lowOnly(h) && h.low !== undefined ? h.low : h.high;
          return (
            <div key={h.host} className="ferry-host-choice">
              <Radio
                id={`migrate-target-${h.host}`}
                name="migrate-target"
                label={hostLabel(h)}
                isChecked={host === h.host}
                onChange={() => {
                  onHost(h);
                }}
              />
              {lowOnly(h) && <p className="ferry-low-only">High priority would be refused: {h.high.errors.map((f) => f.message).join(" ")}</p>}
              <FindingList findings={[...shown.errors, ...shown.warnings]} label={`Reasons for ${h.host}`} />
            </div>
          );
        })}
      </div>
      {selected !== undefined && check !== undefined && check.errors.length > 0 && (
        <Alert variant="danger" isInline title={`${vm} cannot move to ${selected.host}`}>
          Fix the errors listed under {selected.host} first, or choose another host.
        </Alert>
      )}
      {selected !== undefined && lowOnly(selected) && (
        <Alert variant="info" isInline title={`${selected.host} takes ${vm} at low priority`}>
          Low priority is chosen for you: it reserves nothing, always proceeds and may take longer.
        </Alert>
      )}
      {selected !== undefined && check !== undefined && check.errors.length === 0 && check.warnings.length > 0 && (
        <Checkbox
          id="migrate-ack-warnings"
          label={`I have read the warnings for ${selected.host} and want to migrate anyway`}
          isChecked={acknowledged}
          onChange={(_e, checked) => {
            onAcknowledge(checked);
          }}
        />
      )}
    </>
  );
}

function poolLabel(p: string, choice: PoolChoice, ownPool: string | null): string {
  const notes = [...(p === ownPool ? ["the VM's pool now"] : []), ...(choice.roots.includes(p) ? ["root pool"] : [])];
  return notes.length === 0 ? p : `${p} (${notes.join(", ")})`;
}

function PoolStep({ host, choice, pool, onPool, ownPool }: { host: string | null; choice: PoolChoice | null; pool: string | null; onPool: (p: string) => void; ownPool: string | null }) {
  if (host === null || choice === null) return null;
  if (choice.pools.length === 0) return <Alert variant="info" isInline title={`${host} has no resource pools`}>{choice.reason}</Alert>;
  return (
    <>
      <p id="migrate-pool-reason" className="ferry-pool-reason">
        {choice.reason}
      </p>
      <p>Choosing a different pool may change the VM's access to CPU and memory.</p>
      <div role="radiogroup" aria-label="Resource pool" aria-describedby="migrate-pool-reason">
        {choice.pools.map((p) => (
          <Radio
            key={p}
            id={`migrate-pool-${p}`}
            name="migrate-pool"
            label={poolLabel(p, choice, ownPool)}
            isChecked={pool === p}
            onChange={() => {
              onPool(p);
            }}
          />
        ))}
      </div>
    </>
  );
}

function PriorityStep({ priority, onPriority, highRefused }: { priority: Priority; onPriority: (p: Priority) => void; highRefused: string | null }) {
  return (
    <div role="radiogroup" aria-label="Priority">
      <Radio
        id="migrate-priority-high"
        name="migrate-priority"
        label="High priority"
        description={`Reserves CPU and memory on both hosts; refused if they are not available. It may cause CPU stress on both hosts while it runs.${highRefused === null ? "" : ` Not available for this move: ${highRefused}`}`}
        isDisabled={highRefused !== null}
        isChecked={priority === "high"}
        onChange={() => {
          onPriority("high");
        }}
      />
      <Radio
        id="migrate-priority-low"
        name="migrate-priority"
        label="Low priority"
        description="Always proceeds, may take longer: it reserves nothing and yields when resources are short."
        isChecked={priority === "low"}
        onChange={() => {
          onPriority("low");
        }}
      />
    </div>
  );
}

function SummaryStep({ preview, error, finishError, newWarningsAck, onNewWarningsAck, acknowledgedCodes }: { preview: MigrationPreview | null; error: string | null; finishError: string | null; newWarningsAck: boolean; onNewWarningsAck: (v: boolean) => void; acknowledgedCodes: readonly string[] }) {
  if (error !== null) return <Alert variant="danger" isInline title="Cannot validate this migration">{error}</Alert>;
  if (preview === null) return <Spinner size="lg" aria-label="Validating" />;
  const unseen = preview.warnings.filter((w) => !acknowledgedCodes.includes(w.code));
  const p = preview.prediction;
  return (
    <>
      {finishError !== null && (
        <Alert variant="danger" isInline title="The controller refused to start the migration">
          {finishError}
        </Alert>
      )}
      <DescriptionList isHorizontal isCompact aria-label="Migration summary">
        <DescriptionListGroup>
          <DescriptionListTerm>Virtual machine</DescriptionListTerm>
          <DescriptionListDescription>{preview.vm}</DescriptionListDescription>
        </DescriptionListGroup>
        <DescriptionListGroup>
          <DescriptionListTerm>From → to</DescriptionListTerm>
          <DescriptionListDescription>
            {preview.source} → {preview.to}
          </DescriptionListDescription>
        </DescriptionListGroup>
        <DescriptionListGroup>
          <DescriptionListTerm>Resource pool</DescriptionListTerm>
          <DescriptionListDescription>{preview.pool ?? "none (the host's own resources)"}</DescriptionListDescription>
        </DescriptionListGroup>
        <DescriptionListGroup>
          <DescriptionListTerm>Priority</DescriptionListTerm>
          <DescriptionListDescription>{preview.priority === "high" ? "High" : "Low"}</DescriptionListDescription>
        </DescriptionListGroup>
        <DescriptionListGroup>
          <DescriptionListTerm>Validation</DescriptionListTerm>
          <DescriptionListDescription>
            {preview.errors.length === 0 && preview.warnings.length === 0 && "Passed: no errors, no warnings"}
            {preview.errors.length === 0 && preview.warnings.length > 0 && `Passed with ${String(preview.warnings.length)} warning${preview.warnings.length === 1 ? "" : "s"}`}
            {preview.errors.length > 0 && `Failed: ${String(preview.errors.length)} error${preview.errors.length === 1 ? "" : "s"}`}
            <FindingList findings={[...preview.errors, ...preview.warnings]} label="Validation results" />
          </DescriptionListDescription>
        </DescriptionListGroup>
        {p !== null && (
          <>
            <DescriptionListGroup>
              <DescriptionListTerm>Predicted time</DescriptionListTerm>
              <DescriptionListDescription aria-label="Predicted time">{formatDuration(p.totalMs)}</DescriptionListDescription>
            </DescriptionListGroup>
            <DescriptionListGroup>
              <DescriptionListTerm>Predicted passes</DescriptionListTerm>
              <DescriptionListDescription aria-label="Predicted passes">{p.passes}</DescriptionListDescription>
            </DescriptionListGroup>
            <DescriptionListGroup>
              <DescriptionListTerm>Predicted data</DescriptionListTerm>
              <DescriptionListDescription>{formatBytes(p.bytes)}</DescriptionListDescription>
            </DescriptionListGroup>
            <DescriptionListGroup>
              <DescriptionListTerm>Predicted downtime</DescriptionListTerm>
              <DescriptionListDescription aria-label="Predicted downtime">{formatDuration(p.downtimeMs)}</DescriptionListDescription>
            </DescriptionListGroup>
            <DescriptionListGroup>
              <DescriptionListTerm>How</DescriptionListTerm>
              <DescriptionListDescription>{p.note}</DescriptionListDescription>
            </DescriptionListGroup>
            {p.basis !== undefined && (
              <DescriptionListGroup>
                <DescriptionListTerm>Based on</DescriptionListTerm>
                <DescriptionListDescription aria-label="Prediction basis">{p.basis.text}</DescriptionListDescription>
              </DescriptionListGroup>
            )}
          </>
        )}
      </DescriptionList>
      {p === null && <Alert variant="info" isInline title="No prediction: the source's VMotion link speed is unknown" />}
      {p !== null && !p.converges && (
        <Alert variant="warning" isInline title="Predicted not to converge">
          {p.note}
        </Alert>
      )}
      {unseen.length > 0 && (
        <Checkbox
          id="migrate-ack-new-warnings"
          label="I have read these warnings too and want to migrate anyway"
          isChecked={newWarningsAck}
          onChange={(_e, checked) => {
            onNewWarningsAck(checked);
          }}
        />
      )}
      {preview.refusal !== null && unseen.length === 0 && (
        <Alert variant="danger" isInline title="Ferry would refuse this migration">
          {preview.refusal}
        </Alert>
      )}
    </>
  );
}

/** Why the host step's Next waits. */
function hostReasons(vm: string, selected: CheckResult | undefined, acknowledged: boolean): string[] {
  if (selected === undefined) return ["Choose a target host."];
  const errors = selected.errors.length;
  if (errors > 0) return [`${selected.host} cannot take ${vm}: ${String(errors)} error${errors === 1 ? "" : "s"} listed above, each with its fix.`];
  if (selected.warnings.length > 0 && !acknowledged) return [`Read the warnings for ${selected.host}, then tick "I have read the warnings" to go on.`];
  return [];
}

/** Why Finish waits, in the order the user meets them. */
function finishReasons(preview: MigrationPreview | null, previewError: string | null, unseenWarnings: number, newWarningsAck: boolean): string[] {
  if (preview === null) return [previewError === null ? "The controller is checking this migration…" : "The controller could not check this migration (see above)."];
  if (!preview.ok) return ["The controller's check refuses this migration: see the errors above."];
  if (unseenWarnings > 0) return newWarningsAck ? [] : ["This pool and priority raise new warnings: tick \"I have read these warnings too\" to accept them."];
  return preview.refusal === null ? [] : [preview.refusal];
}

export function MigrateWizard({ vm, onClose }: { vm: string; onClose: () => void }) {
  const inventoryState = useInventory();
  const { inventory } = inventoryState;
  const [where, setWhere] = useState<{ current: string; hosts: HostChecks[] } | null>(null);
  const [whereError, setWhereError] = useState<string | null>(null);
  const [host, setHost] = useState<string | null>(null);
  // The warning codes the user acknowledged, as they were shown then (a later change of
  // priority may raise others, which the summary asks about again).
  const [acknowledgedCodes, setAcknowledgedCodes] = useState<readonly string[] | null>(null);
  const acknowledged = acknowledgedCodes !== null;
  const [pool, setPool] = useState<string | null>(null);
  const [priority, setPriority] = useState<Priority>("high");
  const [onSummary, setOnSummary] = useState(false);
  const [preview, setPreview] = useState<MigrationPreview | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const [newWarningsAck, setNewWarningsAck] = useState(false);
  const [finishing, setFinishing] = useState(false);
  const [finishError, setFinishError] = useState<string | null>(null);

  useEffect(() => {
    const abort = new AbortController();
    const get = (priority: Priority): Promise<WhereResult> => apiGet<WhereResult>(`/vms/${seg(vm)}/where?priority=${priority}`, { signal: abort.signal });
    Promise.all([get("high"), get("low")]).then(
      ([high, low]) => {
        setWhere({ current: high.current, hosts: high.hosts.map((h) => ({ host: h.host, high: h, low: low.hosts.find((l) => l.host === h.host) })) });
      },
      (e: unknown) => {
        if (!abort.signal.aborted) setWhereError(messageOf(e));
      },
    );
    return () => {
      abort.abort();
    };
  }, [vm]);

  const selectedHost = where?.hosts.find((h) => h.host === host);
  // The selected host's findings for the chosen priority.
  const selected = selectedHost === undefined ? undefined : priority === "low" ? (selectedHost.low ?? selectedHost.high) : selectedHost.high;
  const highRefused = selectedHost !== undefined && lowOnly(selectedHost) ? selectedHost.high.errors.map((f) => f.message).join(" ") : null;
  const vmRecord = inventory?.vms.find((v) => v.name === vm);
  const ownPool = vmRecord?.pool ?? null;
  const choice = useMemo(() => {
    const target = inventory?.hosts.find((h) => h.name === host);
    if (inventory === null || target === undefined) return null;
    return poolChoice({ name: vm, pool: ownPool ?? undefined }, target, inventory.resourcePools);
  }, [inventory, host, vm, ownPool]);
  const pools = useMemo(() => choice?.pools ?? [], [choice]);
  // A new destination preselects its own default; a pool the user picked stays while it is valid there.
  const [poolPicked, setPoolPicked] = useState(false);
  useEffect(() => {
    setPool((current) => (poolPicked && current !== null && pools.includes(current) ? current : (choice?.pool ?? null)));
  }, [pools, choice, poolPicked]);
  const cold = vmRecord?.power === "off";

  const ackedCodes = useMemo(() => acknowledgedCodes ?? [], [acknowledgedCodes]);
  const acceptWarnings = (p: MigrationPreview | null): string[] => {
    const codes = new Set(ackedCodes);
    if (newWarningsAck && p !== null) for (const w of p.warnings) codes.add(w.code);
    return [...codes];
  };

  const request = useMemo(() => (host === null ? null : { vm, to: host, priority, ...(pool === null ? {} : { pool }) }), [vm, host, priority, pool]);

  // The summary validates again with every choice made (pool and priority change findings).
  useEffect(() => {
    if (!onSummary || request === null) return;
    let current = true;
    setPreview(null);
    setPreviewError(null);
    setFinishError(null);
    setNewWarningsAck(false);
    apiSend<MigrationPreview>("POST", "/migrations/preview", { ...request, acceptWarnings: ackedCodes }).then(
      (p) => {
        if (current) setPreview(p);
      },
      (e: unknown) => {
        if (current) setPreviewError(messageOf(e));
      },
    );
    return () => {
      current = false;
    };
  }, [onSummary, request, ackedCodes]);

  const hostBlocked = selected === undefined || selected.errors.length > 0 || (selected.warnings.length > 0 && !acknowledged);
  const onAcknowledge = (checked: boolean): void => {
    setAcknowledgedCodes(checked && selected !== undefined ? selected.warnings.map((w) => w.code) : null);
  };
  const unseenWarnings = preview === null ? [] : preview.warnings.filter((w) => !ackedCodes.includes(w.code));
  const whyFinishWaits = finishReasons(preview, previewError, unseenWarnings.length, newWarningsAck);
  const finishBlocked = finishing || whyFinishWaits.length > 0;

  const finish = async (): Promise<void> => {
    if (request === null || finishBlocked) return;
    setFinishing(true);
    setFinishError(null);
    try {
      const task = await apiSend<Task>("POST", "/migrations", { ...request, acceptWarnings: acceptWarnings(preview) });
      void inventoryState.reload();
      announceStarted({ id: task.id, vm, destination: request.to, cold });
      onClose();
    } catch (e) {
      setFinishError(messageOf(e));
      setFinishing(false);
    }
  };

  const onStepChange = (_e: unknown, step: WizardStepType): void => {
    setOnSummary(step.id === STEP.summary);
  };

  return (
    <Modal isOpen variant="large" aria-label={`Migrate ${vm}`} onEscapePress={onClose} className="ferry-migrate-modal">
      <Wizard
        height={620}
        isVisitRequired
        onClose={onClose}
        onSave={finish}
        onStepChange={onStepChange}
        header={<WizardHeader title={`Migrate ${vm}`} description={cold ? `Move the powered-off VM to another host, cold: ${vm} is registered there, powered off, with its disks where they are.` : "Move the running VM to another host, live."} onClose={onClose} closeButtonAriaLabel="Close the migrate wizard" />}
        navAriaLabel="Migrate steps"
      >
        <WizardStep name="Select target host" id={STEP.host} footer={<WizardFooter reasons={hostReasons(vm, selected, acknowledged)} />}>
          <Title headingLevel="h2">Select target host</Title>
          <HostStep
            vm={vm}
            current={where?.current ?? null}
            hosts={where?.hosts ?? null}
            error={whereError}
            host={host}
            check={selected}
            onHost={(h) => {
              setHost(h.host);
              setAcknowledgedCodes(null);
              setPriority(lowOnly(h) ? "low" : "high");
            }}
            acknowledged={acknowledged}
            onAcknowledge={onAcknowledge}
          />
        </WizardStep>
        <WizardStep name="Resource pool" id={STEP.pool} isDisabled={hostBlocked} footer={<WizardFooter reasons={pools.length > 0 && pool === null ? ["Choose a resource pool."] : []} />}>
          <Title headingLevel="h2">Resource pool</Title>
          <PoolStep
            host={host}
            choice={choice}
            pool={pool}
            onPool={(p) => {
              setPoolPicked(true);
              setPool(p);
            }}
            ownPool={ownPool}
          />
        </WizardStep>
        <WizardStep name="Priority" id={STEP.priority} isDisabled={hostBlocked}>
          <Title headingLevel="h2">Priority</Title>
          <PriorityStep
            priority={priority}
            highRefused={highRefused}
            onPriority={(p) => {
              setPriority(p);
            }}
          />
        </WizardStep>
        <WizardStep name="Summary" id={STEP.summary} isDisabled={hostBlocked} footer={<WizardFooter reasons={whyFinishWaits} nextText={finishing ? "Starting…" : "Finish"} busy={finishing} />}>
          <Title headingLevel="h2">Summary</Title>
          <SummaryStep preview={preview} error={previewError} finishError={finishError} newWarningsAck={newWarningsAck} onNewWarningsAck={setNewWarningsAck} acknowledgedCodes={ackedCodes} />
        </WizardStep>
      </Wizard>
    </Modal>
  );
}
