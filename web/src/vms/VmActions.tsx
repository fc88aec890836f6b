// A VM page's actions: Migrate…, Edit settings, Power on / Power cycle / Power off (the last two
// after a confirmation: they stop the guest as a pulled power cord would), Delete…. While an
// open migration task holds the VM (its claim) every action is refused by the controller, so
// each button is disabled and says why beside it, naming the task, which the page links to.
import { Alert } from "@patternfly/react-core";
import { useState } from "react";
import { apiSend, seg } from "../api.ts";
import { ButtonWithReason, ErrorAlert, useApiGet } from "../feedback.tsx";
import { hrefs } from "../router.ts";
import { PHASE_WORDS } from "../tasks/format.ts";
import type { PowerResult, Task, Vm } from "../types.ts";
import { ConfirmDialog } from "./Confirm.tsx";
import { DeleteVmButton } from "./DeleteVm.tsx";

type PowerAction = "on" | "off" | "cycle";

/** Task states that end the migration and release the VM ("needs attention" keeps it: the VM waits paused on its source). */
const RELEASED = new Set<Task["state"]>(["completed", "failed", "cancelled"]);

/** The open migration task that holds the VM, read from the controller's task list while the VM shows migrating. */
export function useHoldingTask(vm: string, migrating: boolean, version: unknown): Task | null {
  const tasks = useApiGet<Task[]>(migrating ? `/migrations?vm=${seg(vm)}&limit=20` : null, version);
  if (!migrating) return null;
  return tasks.data?.find((t) => t.vm === vm && !RELEASED.has(t.state)) ?? null;
}

/** Why nothing can be done to a migrating VM now, naming the task that holds it; null when it is free. */
export function migratingReason(vm: Vm, task: Task | null, what: string): string | null {
  if (!vm.migrating) return null;
  // Short: the notice above the buttons says which task, where to and how far it is.
  const held = task === null ? "" : ` (task ${task.id})`;
  return `${vm.name} is migrating${held}: ${what} once it ends.`;
}

/** The "migrating" notice: which task holds the VM, with a link to it. */
export function HoldingTaskNotice({ vm, task }: { vm: Vm; task: Task | null }) {
  if (!vm.migrating) return null;
  return (
    <Alert variant="info" isInline title={`${vm.name} is migrating`}>
      {task === null ? (
        "An open migration task holds it; its settings, power and moves wait until the task ends."
      ) : (
        <>
          Task <a href={hrefs.task(task.id)}>{task.id}</a> moves it from {task.source} to {task.destination} ({PHASE_WORDS[task.state]}); its settings, power and moves wait until the task ends.
        </>
      )}
    </Alert>
  );
}

const POWER_WORDS: Record<Exclude<PowerAction, "on">, { title: (vm: string) => string; body: (vm: string) => string; confirm: (vm: string) => string }> = {
  off: {
    title: (vm) => `Power off ${vm}?`,
    body: (vm) => `${vm}'s guest stops at once, as if its power cord were pulled: unsaved work in it is lost. It stays on its host, powered off.`,
    confirm: (vm) => `Power off ${vm}`,
  },
  cycle: {
    title: (vm) => `Power cycle ${vm}?`,
    body: (vm) => `${vm}'s guest stops at once, as if its power cord were pulled, and boots again with the CPU configured now (its CPUID mask included): unsaved work in it is lost.`,
    confirm: (vm) => `Power cycle ${vm}`,
  },
};

export interface VmActionsProps {
  readonly vm: Vm;
  readonly task: Task | null;
  readonly onMigrate: () => void;
  readonly onEdit: () => void;
  readonly onDelete: () => void;
  /** A power change happened: what the controller says of it. */
  readonly onPowered: (message: string) => void;
}

export function VmActions({ vm, task, onMigrate, onEdit, onDelete, onPowered }: VmActionsProps) {
  const [asking, setAsking] = useState<Exclude<PowerAction, "on"> | null>(null);
  const [powering, setPowering] = useState(false);
  const [error, setError] = useState<unknown>(null);
  // A power-on is when the guest takes its CPU: a new CPUID mask reaches it only through one.
  const power = (action: PowerAction): void => {
    setPowering(true);
    setError(null);
    apiSend<PowerResult>("POST", `/vms/${seg(vm.name)}/power`, { action })
      .then((result) => {
        setAsking(null);
        onPowered(result.power === "off" ? `${result.vm} is powered off.` : `${result.vm} is powered on${result.bootFlags === null ? "" : `; its guest booted with: ${result.bootFlags.join(" ")}`}.`);
      })
      .catch((e: unknown) => {
        setError(e);
      })
      .finally(() => {
        setPowering(false);
      });
  };
  const powerReason = migratingReason(vm, task, "power it") ?? (powering ? "A power change is under way." : null);
  const words = asking === null ? null : POWER_WORDS[asking];
  return (
    <>
    <div className="ferry-actions">
      <ButtonWithReason variant="primary" disabledReason={migratingReason(vm, task, "migrate it again")} onClick={onMigrate}>
        Migrate…
      </ButtonWithReason>
      <ButtonWithReason variant="secondary" disabledReason={migratingReason(vm, task, "edit its settings")} onClick={onEdit}>
        Edit settings
      </ButtonWithReason>
      {vm.power === "off" ? (
        <ButtonWithReason variant="secondary" disabledReason={powerReason} onClick={() => { power("on"); }}>
          Power on
        </ButtonWithReason>
      ) : (
        <>
          <ButtonWithReason variant="secondary" disabledReason={powerReason} onClick={() => { setError(null); setAsking("cycle"); }}>
            Power cycle
          </ButtonWithReason>
          <ButtonWithReason variant="secondary" disabledReason={powerReason} onClick={() => { setError(null); setAsking("off"); }}>
            Power off
          </ButtonWithReason>
        </>
      )}
      <DeleteVmButton vm={vm} onDelete={onDelete} />
      {words !== null && asking !== null && (
        <ConfirmDialog title={words.title(vm.name)} confirm={words.confirm(vm.name)} busy={powering} error={error} onConfirm={() => { power(asking); }} onCancel={() => { setAsking(null); setError(null); }}>
          <p>{words.body(vm.name)}</p>
        </ConfirmDialog>
      )}
    </div>
    {/* A power-on has no dialog: its refusal shows under the buttons. */}
    <ErrorAlert title="The power change did not happen" error={asking === null ? error : null} />
    </>
  );
}

