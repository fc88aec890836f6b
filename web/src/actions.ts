// Actions any screen may offer that the shell carries out: opening the migrate wizard.
import { createContext, useContext } from "react";

/** Opens the migrate wizard for a VM (the shell offers it only to tokens that may migrate). */
export const MigrateContext = createContext<(vm: string) => void>(() => undefined);

export function useMigrate(): (vm: string) => void {
  return useContext(MigrateContext);
}

// "Edit settings…" from the tree's menu opens the dialog on the VM's page: the request waits
// here until that page mounts, or reaches it at once when it is already open.
const EDIT_EVENT = "ferry-edit-settings";
let pendingEdit: string | null = null;

export function requestEditSettings(vm: string, go: () => void): void {
  pendingEdit = vm;
  go();
  window.dispatchEvent(new CustomEvent<string>(EDIT_EVENT, { detail: vm }));
}

/** True (once) when an edit of `vm` was asked for before its page mounted. */
export function takeEditRequest(vm: string): boolean {
  if (pendingEdit !== vm) return false;
  pendingEdit = null;
  return true;
}

export function onEditRequest(listener: (vm: string) => void): () => void {
  const handler = (event: Event): void => {
    if (event instanceof CustomEvent && typeof event.detail === "string") listener(event.detail);
  };
  window.addEventListener(EDIT_EVENT, handler);
  return () => {
    window.removeEventListener(EDIT_EVENT, handler);
  };
}
