// Why a VM stays where it is: every VM of the cluster that DRS cannot move gets its reason,
// so a VM left on an unbalanced or overloaded host is never left unexplained.
import type { PlanRun } from "./recommend.ts";
import { ruleText } from "./state.ts";
import type { Unmovable } from "./types.ts";

/** The first reason VM v cannot be moved by DRS at all, or undefined when it could be. */
export function whyUnmovable(run: PlanRun, v: number): string | undefined {
  const { state } = run;
  const vm = state.vm(v);
  const h = state.vmHost[v] ?? -1;
  if (h < 0) return undefined;
  if (vm.power === "off") return "powered off (moved cold or left registered, not by DRS)";
  if (vm.power === "suspended") return "suspended (moved cold or left registered, not by DRS)";
  if (vm.pinned !== undefined) return `pinned: ${vm.pinned}`;
  if (!state.host(h).connected) return `its host ${state.host(h).name} is disconnected`;
  if (vm.automation === "manual") return "automation is manual for this VM: DRS does not move it";
  const stuck = run.stuck.get(v);
  if (stuck !== undefined) return stuck;
  return incompatibleEverywhere(run, v) ?? heldByRule(run, v);
}

function incompatibleEverywhere(run: PlanRun, v: number): string | undefined {
  const { state } = run;
  const h = state.vmHost[v] ?? -1;
  let first: string | undefined;
  let others = 0;
  for (let t = 0; t < state.hosts.length; t++) {
    if (t === h || state.active[t] !== 1) continue;
    others++;
    if (state.compatible(v, t)) return undefined;
    if (first === undefined) {
      const verdict = state.input.compatible(state.vm(v), state.host(t));
      first = `${state.host(t).name}: ${verdict.ok ? "incompatible" : verdict.reason}`;
    }
  }
  if (others === 0) return "no other host can take VMs (every other host is disconnected or in maintenance mode)";
  return `incompatible with every other host (first: ${first ?? "?"})`;
}

/** A mandatory rule that keeps VM v where it is: an affinity group, or a "must" rule that allows no other compatible host. */
function heldByRule(run: PlanRun, v: number): string | undefined {
  const { state } = run;
  const h = state.vmHost[v] ?? -1;
  for (const r of state.vmRules[v] ?? []) {
    const rule = state.input.rules[r];
    if (rule === undefined) continue;
    if (rule.kind === "vm-affinity" && (state.ruleOn.get(r) ?? 0) > 1) return `held by mandatory ${ruleText(rule, state.vm(v).name)} (moves only with them)`;
    if (rule.kind !== "vm-host" || !rule.mandatory) continue;
    let elsewhere = false;
    for (let t = 0; t < state.hosts.length && !elsewhere; t++) {
      elsewhere = t !== h && state.active[t] === 1 && rule.hosts.includes(state.host(t).name) === rule.affine && state.compatible(v, t);
    }
    if (!elsewhere) return `held by ${ruleText(rule, state.vm(v).name)}: no other compatible host is allowed`;
  }
  return undefined;
}

/** Every VM of the cluster the run did not move and cannot move, with its reason. */
export function explainUnmovable(run: PlanRun): Unmovable[] {
  const out: Unmovable[] = [];
  for (let v = 0; v < run.state.vms.length; v++) {
    if (run.moved[v] === 1) continue;
    const reason = whyUnmovable(run, v);
    if (reason !== undefined) out.push({ vm: run.state.vm(v).name, reason });
  }
  return out;
}
