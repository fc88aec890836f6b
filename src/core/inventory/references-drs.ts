// DRS rules' references: every VM and host a rule names must exist, and a rule names each
// once (vSphere refuses a rule on a VM it does not know; a rule on a deleted VM would silently
// constrain nothing). Checked with look-ups so the whole-inventory check (references.ts) and
// an edit's check (validate-change.ts) share it.
import type { ReferenceIssue } from "./references.ts";
import type { DrsRuleSetting } from "./schema.ts";

export interface DrsRuleLookups {
  readonly vmExists: (name: string) => boolean;
  readonly hostExists: (name: string) => boolean;
}

/** The problems of `rules` (at `drsRules[i]` in the file), every one. */
export function checkDrsRuleReferences(rules: readonly DrsRuleSetting[], lookups: DrsRuleLookups): ReferenceIssue[] {
  const issues: ReferenceIssue[] = [];
  rules.forEach((rule, r) => {
    const at = `drsRules[${r}]`;
    const seen = new Set<string>();
    rule.vms.forEach((vm, v) => {
      if (seen.has(vm)) issues.push({ path: `${at}.vms[${v}]`, message: `DRS rule "${rule.name}" names VM ${vm} twice` });
      else if (!lookups.vmExists(vm)) issues.push({ path: `${at}.vms[${v}]`, message: `DRS rule "${rule.name}" names VM "${vm}", which does not exist` });
      seen.add(vm);
    });
    if (rule.kind !== "vm-host") return;
    const hosts = new Set<string>();
    rule.hosts.forEach((host, h) => {
      if (hosts.has(host)) issues.push({ path: `${at}.hosts[${h}]`, message: `DRS rule "${rule.name}" names host ${host} twice` });
      else if (!lookups.hostExists(host)) issues.push({ path: `${at}.hosts[${h}]`, message: `DRS rule "${rule.name}" names host "${host}", which does not exist` });
      hosts.add(host);
    });
  });
  return issues;
}
