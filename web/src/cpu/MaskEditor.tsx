// The CPUID mask, as the seed's Figures 9.33/9.34 put it: the NX/XD flag hidden from the
// guest or exposed to it; and, under Advanced, SSE3, SSE4.1/4.2 and custom flags — with the
// seed's warning that those are not to be changed without cause. Used on VMs, templates and
// for a whole cluster at once.
import { Alert, Checkbox, ExpandableSection, FormGroup, FormHelperText, HelperText, HelperTextItem, Radio, TextInput } from "@patternfly/react-core";
import { useState } from "react";
import { unknownFlagsMessage, unknownMaskFlags } from "../../../src/core/cpu/mask-flags.ts";
import type { CpuidMask, Inventory, Vm } from "../types.ts";

export const NO_MASK: CpuidMask = { nx: false, sse3: false, sse4: false, custom: [] };

export function sameMask(a: CpuidMask | undefined, b: CpuidMask | undefined): boolean {
  const x = a ?? NO_MASK;
  const y = b ?? NO_MASK;
  return x.nx === y.nx && x.sse3 === y.sse3 && x.sse4 === y.sse4 && [...x.custom].sort().join(" ") === [...y.custom].sort().join(" ");
}

/** Flags the mask hides from the guest, as in /proc/cpuinfo (SSE3 takes what depends on it). */
export function maskedFlagNames(mask: CpuidMask): string[] {
  const out = new Set<string>(mask.custom);
  if (mask.nx) out.add("nx");
  if (mask.sse3) for (const f of ["pni", "ssse3", "sse4_1", "sse4_2"]) out.add(f);
  if (mask.sse4) for (const f of ["sse4_1", "sse4_2"]) out.add(f);
  return [...out];
}

/** The mask in force and where it comes from: the VM's own, else its template's. */
export function effectiveMask(vm: Vm, inventory: Inventory): { mask: Vm["cpuidMask"]; from: string } {
  if (vm.cpuidMask !== undefined) return { mask: vm.cpuidMask, from: "the VM's own" };
  const template = vm.template === undefined ? undefined : inventory.templates.find((t) => t.name === vm.template);
  if (template?.cpuidMask !== undefined) return { mask: template.cpuidMask, from: `from template ${template.name}` };
  return { mask: undefined, from: "" };
}

/**
 * What is wrong with the mask's custom flags (a name no guest sees, e.g. "avx3", with the
 * nearest known names), in the controller's own words: the same check refuses it there.
 */
export function maskProblem(mask: CpuidMask): string | null {
  const unknown = unknownMaskFlags(mask.custom);
  return unknown.length === 0 ? null : `${unknownFlagsMessage(unknown)}.`;
}

export function describeMask(mask: CpuidMask | undefined): string {
  if (mask === undefined) return "none (the guest sees the host's CPU features)";
  const parts = [mask.nx ? "NX/XD hidden" : "NX/XD exposed"];
  if (mask.sse3) parts.push("SSE3 masked");
  if (mask.sse4) parts.push("SSE4.1/4.2 masked");
  if (mask.custom.length > 0) parts.push(`custom: ${mask.custom.join(" ")}`);
  return parts.join(", ");
}

function parseFlags(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((f) => f.trim().toLowerCase()).filter((f) => f !== ""))];
}

export function MaskEditor({ id, value, onChange }: { id: string; value: CpuidMask; onChange: (mask: CpuidMask) => void }) {
  const advancedSet = value.sse3 || value.sse4 || value.custom.length > 0;
  const [advanced, setAdvanced] = useState(advancedSet);
  const [customText, setCustomText] = useState(value.custom.join(" "));
  const problem = maskProblem(value);
  return (
    <div className="ferry-mask">
      <FormGroup role="radiogroup" isInline fieldId={`${id}-nx`} label="NX/XD flag" isStack>
        <Radio
          id={`${id}-nx-hide`}
          name={`${id}-nx`}
          label="Hide the NX/XD flag from guest"
          description="Greatest VMotion compatibility: the guest can move to hosts whose NX/XD is disabled."
          isChecked={value.nx}
          onChange={() => { onChange({ ...value, nx: true }); }}
        />
        <Radio
          id={`${id}-nx-expose`}
          name={`${id}-nx`}
          label="Expose the NX/XD flag to guest"
          description="The guest keeps the no-execute protection; it can move only to hosts with NX/XD enabled."
          isChecked={!value.nx}
          onChange={() => { onChange({ ...value, nx: false }); }}
        />
      </FormGroup>
      <ExpandableSection toggleText="Advanced: SSE3, SSE4 and custom flags" isExpanded={advanced} onToggle={(_e, open) => { setAdvanced(open); }}>
        <Alert variant="warning" isInline title="Do not change these masks without cause">
          Change them only when a migration check or your support tells you to: a guest that loses SSE3 or SSE4 may run slower or refuse to start its applications, and a new mask reaches the guest only after a power cycle.
        </Alert>
        <Checkbox id={`${id}-sse3`} label="Mask SSE3 (also hides SSSE3 and SSE4.x)" isChecked={value.sse3} onChange={(_e, checked) => { onChange({ ...value, sse3: checked }); }} />
        <Checkbox id={`${id}-sse4`} label="Mask SSE4.1 and SSE4.2" isChecked={value.sse4} onChange={(_e, checked) => { onChange({ ...value, sse4: checked }); }} />
        <FormGroup label="Custom flags to hide" fieldId={`${id}-custom`}>
          <TextInput
            id={`${id}-custom`}
            value={customText}
            validated={problem === null ? "default" : "error"}
            aria-describedby={`${id}-custom-help`}
            placeholder="e.g. avx2 x2apic (names as in /proc/cpuinfo)"
            onChange={(_e, text) => {
              setCustomText(text);
              onChange({ ...value, custom: parseFlags(text) });
            }}
          />
          <FormHelperText>
            <HelperText id={`${id}-custom-help`}>
              <HelperTextItem variant={problem === null ? "default" : "error"}>{problem ?? "CPUID flags a guest can see, named as in /proc/cpuinfo."}</HelperTextItem>
            </HelperText>
          </FormHelperText>
        </FormGroup>
      </ExpandableSection>
    </div>
  );
}
