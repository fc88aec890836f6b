// One network op → the steps that carry it out on this host and the mapping after it, or the
// reason it is refused. Pure: the transaction runs the steps.
import type { NetworkOp } from "../network-config.ts";
import { planRemovePortGroup, planRenamePortGroup, planSetPortGroup } from "./port-group.ts";
import { planAddVSwitch, planRemoveVSwitch } from "./vswitch.ts";
import { planRemoveVmkernelPort, planSetVmkernelPort } from "./vmkernel.ts";
import type { Plan, PlanInput } from "./step.ts";

export function planOp(op: NetworkOp, input: PlanInput): Plan {
  switch (op.op) {
    case "addVSwitch":
      return planAddVSwitch(op, input);
    case "removeVSwitch":
      return planRemoveVSwitch(op, input);
    case "setPortGroup":
      return planSetPortGroup(op, input);
    case "renamePortGroup":
      return planRenamePortGroup(op, input);
    case "removePortGroup":
      return planRemovePortGroup(op, input);
    case "setVmkernelPort":
      return planSetVmkernelPort(op, input);
    case "removeVmkernelPort":
      return planRemoveVmkernelPort(op, input);
  }
}

/** The op in a few words, for messages: `setPortGroup "VM Network"`, `addVSwitch vs1`. */
export function describeOp(op: NetworkOp): string {
  switch (op.op) {
    case "addVSwitch":
    case "removeVSwitch":
    case "setVmkernelPort":
    case "removeVmkernelPort":
      return `${op.op} ${op.name}`;
    case "setPortGroup":
    case "removePortGroup":
      return `${op.op} "${op.name}"`;
    case "renamePortGroup":
      return `${op.op} "${op.name}" to "${op.to}"`;
  }
}
