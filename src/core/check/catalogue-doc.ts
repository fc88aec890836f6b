// docs/findings.md is rendered from CATALOGUE, so the documented codes are the codes the
// checker emits; a test fails when the committed file differs from this rendering.
import { CATALOGUE, FINDING_CODES } from "./findings.ts";

const AREAS: readonly (readonly [string, string])[] = [
  ["STORAGE_NOT_VISIBLE", "Storage"],
  ["VMOTION_PORT_MISSING", "VMotion network"],
  ["PORTGROUP_MISSING", "VM networks"],
  ["CPU_VENDOR_MISMATCH", "CPU"],
  ["MACHINE_TYPE_UNSUPPORTED", "Hypervisor (QEMU)"],
  ["DEVICE_HOST_ONLY", "Devices"],
  ["CPU_AFFINITY", "VM and host state"],
  ["HOST_RESOURCES_SHORT", "Resources"],
];

export function renderFindingsDoc(): string {
  const lines = [
    "# Finding codes",
    "",
    "<!-- Rendered from src/core/check/findings.ts by `npm run gen`; edit the catalogue there, not this file. -->",
    "",
    "Every check of a VM against a destination returns findings `{ code, severity, subject, message, fix }`.",
    "An **error** blocks the migration; a **warning** lets it proceed only when the caller confirms it",
    "(`--yes` on the command line). Codes are stable: scripts may match on them, and a code is never",
    "renamed. The message names the exact objects (VM, host, datastore, port group, device, CPU features);",
    "the fix says what to change.",
    "",
    "In the compatibility matrix (`ferry where`, the benchmarks) each pair carries the set of codes",
    "that fired with their severity; the full messages of a pair are rendered on demand by `ferry check`.",
    "A VM's own host is no destination: the matrix marks that cell by position instead of with SAME_HOST.",
    "",
  ];
  const areaOf = new Map(AREAS);
  for (const code of FINDING_CODES) {
    const area = areaOf.get(code);
    if (area !== undefined) lines.push(`## ${area}`, "");
    const entry = CATALOGUE[code];
    lines.push(`### ${code}`, "", entry.title + ".", "", `- **Severity:** ${entry.severity}.`, `- **Fix:** ${entry.fix}`, "");
  }
  return lines.join("\n");
}
