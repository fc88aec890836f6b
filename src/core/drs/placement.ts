// Initial placement: the host a new or powering-on VM should start on, and why.
import { ClusterState, percent, type FitOptions } from "./state.ts";
import type { DrsInput, DrsVm, Placement } from "./types.ts";

const PLACEMENT: FitOptions = { keepShould: false, ignoreAffinity: true };

/**
 * The best compatible host for `vm`: one with room (memory demand and reservations, CPU
 * reservations, no CPU overload) that breaks no mandatory rule, joining its affinity group's
 * host when a member runs, keeping its "should" rules when some host can, and of those the
 * lowest combined load after placement. `vm.host` is ignored: a VM already registered in
 * `input.vms` is taken out of its host's sums first.
 */
export function placeVm(input: DrsInput, vm: DrsVm): Placement {
  const unplaced: DrsVm = { ...vm, host: "", power: "on" };
  const others = input.vms.filter((x) => x.name !== vm.name);
  const state = new ClusterState({ ...input, vms: [...others, unplaced] });
  const v = others.length;
  const anchor = state.affinityAnchor(v, -1);
  const reasons: { host: string; reason: string }[] = [];
  const ok: number[] = [];
  for (let t = 0; t < state.hosts.length; t++) {
    const reason = state.refusal(v, t, PLACEMENT) ?? (anchor >= 0 && anchor !== t ? `its affinity group runs on ${state.host(anchor).name}` : undefined);
    if (reason === undefined) ok.push(t);
    else reasons.push({ host: state.host(t).name, reason });
  }
  if (ok.length === 0) return { ok: false, reasons };
  const score = (t: number): number => state.load(t, v, 1) + (state.keepsShould(v, t) ? 0 : 10);
  const best = ok.reduce((a, b) => (score(b) < score(a) ? b : a));
  const refused = reasons.map((r) => `; ${r.host} refused: ${r.reason}`).join("");
  const should = state.keepsShould(v, best) ? "" : " (no host keeps its should rule)";
  const why = `lowest load after placement: ${state.host(best).name} ${percent(state.cpuShare(best, vm.demand.cpuMhz))} CPU / ${percent(state.memShare(best, vm.demand.memoryMB))} memory${should}${refused}`;
  return { ok: true, host: state.host(best).name, why };
}
