// Edit settings > Resources > Advanced CPU: scheduling affinity, vSphere's place for pinning a
// VM's vCPUs to physical CPUs of its host. The CPUs are that host's, numbered from 0, so they
// mean nothing on another: a pinned VM cannot migrate (CPU_AFFINITY), and clearing the field is
// that finding's fix.
import { Alert, FormGroup, FormHelperText, HelperText, HelperTextItem, TextInput, Title } from "@patternfly/react-core";

/** "2, 3" or "0-3, 6" as CPU numbers; the first problem when it is not that, or names a CPU the host lacks. */
export function parseAffinity(text: string, cpus: number | undefined): { cpus: number[]; problem: string | null } {
  const out = new Set<number>();
  for (const part of text.split(/[\s,]+/).filter((p) => p !== "")) {
    const range = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (range === null) return { cpus: [], problem: `"${part}" is not a CPU number or a range such as 0-3.` };
    const from = Number(range[1]);
    const to = range[2] === undefined ? from : Number(range[2]);
    if (to < from) return { cpus: [], problem: `${part}: a range goes from the lower CPU to the higher.` };
    for (let cpu = from; cpu <= to; cpu++) {
      if (cpus !== undefined && cpu >= cpus) return { cpus: [], problem: `The host has physical CPUs 0 to ${String(cpus - 1)}: ${String(cpu)} is not one of them.` };
      out.add(cpu);
    }
  }
  return { cpus: [...out].sort((a, b) => a - b), problem: null };
}

export function sameAffinity(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((cpu, i) => cpu === b[i]);
}

export function AdvancedCpu({ vm, host, cpus, text, problem, onChange }: { vm: string; host: string; cpus: number | undefined; text: string; problem: string | null; onChange: (text: string) => void }) {
  const pinned = text.trim() !== "";
  return (
    <section aria-label="Resources" className="ferry-fieldset-group">
      <Title headingLevel="h3">Resources</Title>
      <fieldset className="ferry-fieldset">
        <legend>Advanced CPU</legend>
        <FormGroup label="Scheduling affinity" fieldId="vm-cpu-affinity">
          <TextInput id="vm-cpu-affinity" value={text} validated={problem === null ? "default" : "error"} placeholder="none: any CPU of the host" onChange={(_e, value) => { onChange(value); }} aria-describedby="vm-cpu-affinity-help" />
          <FormHelperText>
            <HelperText id="vm-cpu-affinity-help">
              <HelperTextItem variant={problem === null ? "default" : "error"}>
                {problem ?? `Physical CPUs of ${host} that ${vm}'s vCPUs may run on${cpus === undefined ? "" : ` (0 to ${String(cpus - 1)})`}, e.g. 2, 3 or 0-3. Empty: any CPU.`}
              </HelperTextItem>
            </HelperText>
          </FormHelperText>
        </FormGroup>
        {pinned && (
          <Alert variant="warning" isInline isPlain title="A pinned VM cannot migrate">
            These CPUs are {host}'s and mean nothing on another host: clear the field to let {vm} move.
          </Alert>
        )}
      </fieldset>
    </section>
  );
}
