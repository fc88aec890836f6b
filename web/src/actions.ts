// Actions any screen may offer that the shell carries out: opening the migrate wizard.
import { createContext, useContext } from "react";

/** Opens the migrate wizard for a VM (the shell offers it only to tokens that may migrate). */
export const MigrateContext = createContext<(vm: string) => void>(() => undefined);

export function useMigrate(): (vm: string) => void {
  return useContext(MigrateContext);
}
