// What a host-network change does to migrations, shown before the operator commits it: the
// Add networking wizard's summary, and the Edit, Rename and Remove dialogs of the Networking
// tab, ask the controller's checker (POST /api/hosts/{name}/network/preview) and list the
// VM → host pairs the change breaks or fixes and the warnings it adds or clears. A change that
// breaks a migration asks for an explicit "do it anyway" before its button is enabled.
import { Alert, Checkbox, ExpandableSection, Spinner } from "@patternfly/react-core";
import { useEffect, useState } from "react";
import { apiSend, messageOf, seg } from "../api.ts";
import type { HostNetworkChange, HostNetworkPreview, PairImpactView } from "../../../src/api/schemas-hosts.ts";

export type { HostNetworkChange } from "../../../src/api/schemas-hosts.ts";

export interface ImpactState {
  readonly preview: HostNetworkPreview | null;
  readonly error: string | null;
}

/**
 * Asks the checker about `change` (null: nothing to ask yet) whenever it changes; an answer to
 * an older change is dropped. The change is compared as JSON, so callers may rebuild it each render.
 */
export function useNetworkImpact(host: string, change: HostNetworkChange | null): ImpactState {
  const key = change === null ? null : JSON.stringify(change);
  const [state, setState] = useState<ImpactState & { key: string | null }>({ preview: null, error: null, key: null });
  useEffect(() => {
    if (key === null) return;
    let current = true;
    apiSend<HostNetworkPreview>("POST", `/hosts/${seg(host)}/network/preview`, JSON.parse(key)).then(
      (preview) => {
        if (current) setState({ preview, error: null, key });
      },
      (e: unknown) => {
        if (current) setState({ preview: null, error: messageOf(e), key });
      },
    );
    return () => {
      current = false;
    };
  }, [host, key]);
  // Until the answer for this very change arrives, there is none.
  return state.key === key ? state : { preview: null, error: null };
}

/** How many migrations the change breaks (0 while the checker has not answered, or would refuse). */
export function brokenCount(state: ImpactState): number {
  return state.preview?.pairs.filter((p) => p.broken.length > 0).length ?? 0;
}

/** Why the commit button waits, or null: the checker's answer, and an acknowledgement when the change breaks migrations. */
export function impactBlocks(state: ImpactState, acknowledged: boolean): string | null {
  if (state.preview === null && state.error === null) return "Checking what this change does to migrations…";
  if (state.preview?.refusal != null) return "The controller would refuse this change.";
  if (brokenCount(state) > 0 && !acknowledged) return "This change breaks migrations: tick the box to make it anyway.";
  return null;
}

/** Pairs listed before "Show N more": broken ones come first, so they are always in view. */
const SHOWN = 3;

const statusWords = { compatible: "compatible", warnings: "warnings", errors: "errors" } as const;

function PairItem({ pair }: { pair: PairImpactView }) {
  const lines: [string, readonly { code: string; message: string }[]][] = [
    ["Breaks", pair.broken],
    ["Fixes", pair.fixed],
    ["New warning", pair.newWarnings],
    ["Clears warning", pair.clearedWarnings],
  ];
  return (
    <li>
      <strong>
        {pair.vm}: {pair.from} → {pair.to}
      </strong>{" "}
      ({statusWords[pair.before]} → {statusWords[pair.after]})
      <ul>
        {lines.flatMap(([label, findings]) =>
          findings.map((f) => (
            <li key={`${label}-${f.code}-${f.message}`}>
              {label} {f.code}: {f.message}
            </li>
          )),
        )}
      </ul>
    </li>
  );
}

function title(preview: HostNetworkPreview): string {
  const broken = preview.pairs.filter((p) => p.broken.length > 0).length;
  const fixed = preview.pairs.filter((p) => p.fixed.length > 0).length;
  const parts: string[] = [];
  if (broken > 0) parts.push(`breaks ${String(broken)} migration${broken === 1 ? "" : "s"}`);
  if (fixed > 0) parts.push(`fixes ${String(fixed)} migration${fixed === 1 ? "" : "s"}`);
  if (parts.length === 0) return "This change alters only warnings";
  return `This change ${parts.join(" and ")}`;
}

/** The checker's verdict on a change, with the "make it anyway" box when it breaks migrations. */
export function NetworkImpact({ state, host, acknowledged, onAcknowledge }: { state: ImpactState; host: string; acknowledged: boolean; onAcknowledge: (v: boolean) => void }) {
  const { preview, error } = state;
  const [expanded, setExpanded] = useState(false);
  if (error !== null) return <Alert variant="warning" isInline title="Could not check what this change does to migrations">{error}</Alert>;
  if (preview === null) return <Spinner size="md" aria-label="Checking what this change does to migrations" />;
  if (preview.refusal !== null)
    return (
      <Alert variant="danger" isInline title="The controller would refuse this change">
        {preview.refusal.message}
      </Alert>
    );
  if (preview.pairs.length === 0)
    return (
      <Alert variant="success" isInline title="No migration changes">
        The checker judged {preview.pairsChecked} migration{preview.pairsChecked === 1 ? "" : "s"} to or from {host}: none gains or loses an error or a warning.
      </Alert>
    );
  const broken = brokenCount(state);
  const first = preview.pairs.slice(0, SHOWN);
  const rest = preview.pairs.slice(SHOWN);
  return (
    <section aria-label="What this change does to migrations" className="ferry-section">
      {/* The box before the list: in view without scrolling past every pair. */}
      {broken > 0 && <Checkbox id={`impact-ack-${host}`} label={`Make this change anyway: it breaks ${String(broken)} migration${broken === 1 ? "" : "s"}`} isChecked={acknowledged} onChange={(_e, v) => { onAcknowledge(v); }} />}
      <Alert variant={broken > 0 ? "danger" : "info"} isInline title={title(preview)}>
        <ul className="ferry-impact">
          {first.map((p) => (
            <PairItem key={`${p.vm}-${p.to}`} pair={p} />
          ))}
        </ul>
        {rest.length > 0 && (
          <ExpandableSection toggleTextCollapsed={`Show ${String(rest.length)} more migration${rest.length === 1 ? "" : "s"}`} toggleTextExpanded="Show fewer" isExpanded={expanded} onToggle={(_e, v) => { setExpanded(v); }}>
            <ul className="ferry-impact">
              {rest.map((p) => (
                <PairItem key={`${p.vm}-${p.to}`} pair={p} />
              ))}
            </ul>
          </ExpandableSection>
        )}
      </Alert>
    </section>
  );
}
