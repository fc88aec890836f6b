// A finding's fix in the web UI's words. `Finding.fix` speaks to the command line and the
// inventory file (the CLI prints it, scripts read it); the UI must never show those words
// ("`connected: false` in the inventory", "ferry abort ID"), so every finding also carries
// `ui`: the same advice said with the UI's screens and controls, and, when the UI can do the
// fix, the place where it is done — an object's page and the tabs, buttons, groups and
// controls to reach, in order — so the UI can link to it and a browser test can follow it
// (test/web/fix-texts.test.ts). A fix the UI cannot do (a cable, the BIOS, a QEMU upgrade)
// has no place, and its text says what to do outside Ferry.

/** Whose page a place starts from: `#/vms/NAME`, `#/hosts/NAME`, `#/clusters/NAME`, `#/tasks/ID`. */
export const UiPage = { vm: "vm", host: "host", cluster: "cluster", task: "task" } as const;
export type UiPage = (typeof UiPage)[keyof typeof UiPage];

/**
 * One step toward the control, by its role and accessible name: a tab to select, a button to
 * press (it may open a dialog, or expand a section), a group to look inside (a fieldset by its
 * legend, a region by its label; the name may be followed by more words, "cdrom0 (CD-ROM)"),
 * and the control that does the fix (checkbox, radio, text field).
 */
export const UiStepKind = { tab: "tab", button: "button", group: "group", checkbox: "checkbox", radio: "radio", field: "field" } as const;
export type UiStepKind = (typeof UiStepKind)[keyof typeof UiStepKind];

export interface UiStep {
  readonly kind: UiStepKind;
  readonly name: string;
}

export interface UiPlace {
  readonly page: UiPage;
  /** The VM's, host's or cluster's name, or the task's id. */
  readonly object: string;
  /** In order; the last is the control that does the fix. */
  readonly steps: readonly UiStep[];
}

export interface UiFix {
  /** The fix in the UI's words; when there is a place, it names it as `placeText(place)` gives it. */
  readonly text: string;
  readonly place?: UiPlace;
}

const pageWords: Record<UiPage, string> = { vm: "VM", host: "Host", cluster: "Cluster", task: "Task" };

/** "VM iso01 > Edit settings > cdrom0 > Connected": the path a reader follows. */
export function placeText(place: UiPlace): string {
  return [`${pageWords[place.page]} ${place.object}`, ...place.steps.map((s) => s.name)].join(" > ");
}

/** A fix done at `place`: `before`, the place in parentheses, then `after` (", or …."). */
export function uiAt(before: string, place: UiPlace, after = "."): UiFix {
  return { text: `${before} (${placeText(place)})${after}`, place };
}

/** A fix the UI has no place for: words only. */
export function uiWords(text: string): UiFix {
  return { text };
}

const step = (kind: UiStepKind, name: string): UiStep => ({ kind, name });

// The places Ferry's screens have, named once here so every rule says them the same way.
// Their names are the screens' own labels (web/src/vms, web/src/hosts, web/src/tasks).
export const places = {
  /** A VM page's action button: "Power on", "Power cycle", "Power off", "Migrate…". */
  vmAction: (vm: string, button: string): UiPlace => ({ page: UiPage.vm, object: vm, steps: [step(UiStepKind.button, button)] }),
  /** The Connected box of a device or network adapter in Edit settings. */
  connected: (vm: string, device: string): UiPlace => ({ page: UiPage.vm, object: vm, steps: [step(UiStepKind.button, "Edit settings"), step(UiStepKind.group, device), step(UiStepKind.checkbox, "Connected")] }),
  /** The CPU scheduling affinity field in Edit settings (vSphere's Resources > Advanced CPU). */
  cpuAffinity: (vm: string): UiPlace => ({ page: UiPage.vm, object: vm, steps: [step(UiStepKind.button, "Edit settings"), step(UiStepKind.group, "Resources"), step(UiStepKind.group, "Advanced CPU"), step(UiStepKind.field, "Scheduling affinity")] }),
  /** The NX/XD choice of the VM's CPUID mask in Edit settings. */
  maskNx: (vm: string): UiPlace => ({ page: UiPage.vm, object: vm, steps: [step(UiStepKind.button, "Edit settings"), step(UiStepKind.radio, "Hide the NX/XD flag from guest")] }),
  /** The advanced part of the CPUID mask (SSE3, SSE4, custom flags) in Edit settings. */
  maskAdvanced: (vm: string, control: UiStep): UiPlace => ({ page: UiPage.vm, object: vm, steps: [step(UiStepKind.button, "Edit settings"), step(UiStepKind.button, "Advanced: SSE3, SSE4 and custom flags"), control] }),
  maskSse3: step(UiStepKind.checkbox, "Mask SSE3 (also hides SSSE3 and SSE4.x)"),
  maskSse4: step(UiStepKind.checkbox, "Mask SSE4.1 and SSE4.2"),
  maskCustom: step(UiStepKind.field, "Custom flags to hide"),
  /** A host page's button: "Exit maintenance mode". */
  hostAction: (host: string, button: string): UiPlace => ({ page: UiPage.host, object: host, steps: [step(UiStepKind.button, button)] }),
  /** The Networking tab's Add networking wizard. */
  addNetworking: (host: string): UiPlace => ({ page: UiPage.host, object: host, steps: [step(UiStepKind.tab, "Networking"), step(UiStepKind.button, "Add networking…")] }),
  /** A control of a VMkernel port's Edit dialog on the Networking tab. */
  vmkernelPort: (host: string, port: string, control: UiStep): UiPlace => ({ page: UiPage.host, object: host, steps: [step(UiStepKind.tab, "Networking"), step(UiStepKind.button, `Edit ${port}`), control] }),
  vmotionBox: step(UiStepKind.checkbox, "Use this port for VMotion"),
  portIp: step(UiStepKind.field, "IP address with prefix"),
  portMtu: step(UiStepKind.field, "MTU"),
  /** A VM port group's row action on the Networking tab ("Rename", "Edit"). */
  portGroup: (host: string, action: string, portGroup: string, control?: UiStep): UiPlace => ({ page: UiPage.host, object: host, steps: [step(UiStepKind.tab, "Networking"), step(UiStepKind.button, `${action} ${portGroup}`), ...(control === undefined ? [] : [control])] }),
  portGroupVlan: step(UiStepKind.field, "VLAN ID"),
  /** The task page's Abort. */
  abortTask: (taskId: string): UiPlace => ({ page: UiPage.task, object: taskId, steps: [step(UiStepKind.button, "Abort this migration")] }),
} as const;
