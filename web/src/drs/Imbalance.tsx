// A cluster's imbalance as DRS measures it: σ of normalised host load now, against the target
// its migration threshold sets, where the recommendations would take it (their own predicted
// σ before → after, in the order a run applies them), and the last hour's σ (ImbalanceHistory).
import { Label } from "@patternfly/react-core";
import { ImbalanceHistory } from "./ImbalanceHistory.tsx";
import type { DrsView } from "./model.ts";
import { sigma } from "./model.ts";

/** The bar's full scale: the largest σ shown, with room, never under 0.1. */
function scaleOf(view: DrsView): number {
  return Math.max(0.1, view.imbalance, view.targetImbalance, view.imbalanceAfter) * 1.2;
}

function Bar({ label, value, target, scale, tone }: { label: string; value: number; target: number; scale: number; tone: "over" | "ok" }) {
  const percent = Math.min(100, (value / scale) * 100);
  const targetPercent = Math.min(100, (target / scale) * 100);
  return (
    <div className="ferry-gauge" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={Number(scale.toFixed(3))} aria-valuenow={Number(value.toFixed(4))} aria-valuetext={`σ ${sigma(value)}, target ${sigma(target)}`}>
      <span className="ferry-gauge-label">{label}</span>
      <span className="ferry-gauge-track">
        <span className={`ferry-gauge-fill ferry-gauge-${tone}`} style={{ width: `${percent.toFixed(1)}%` }} />
        <span className="ferry-gauge-target" style={{ left: `${targetPercent.toFixed(1)}%` }} title={`target σ ${sigma(target)}`} />
      </span>
      <span className="ferry-gauge-value">σ {sigma(value)}</span>
    </div>
  );
}

export function ImbalanceGauge({ view }: { view: DrsView }) {
  const scale = scaleOf(view);
  const over = view.imbalance > view.targetImbalance;
  const path = view.recommendations.length === 0 ? [] : [view.recommendations[0]?.gain.imbalanceBefore ?? view.imbalance, ...view.recommendations.map((r) => r.gain.imbalanceAfter)];
  return (
    <section className="ferry-section" aria-label="Imbalance">
      <p>
        Imbalance <strong>σ {sigma(view.imbalance)}</strong> against the target <strong>σ {sigma(view.targetImbalance)}</strong> of threshold {view.config.threshold}{" "}
        {over ? <Label color="orange">imbalanced</Label> : <Label color="green">balanced</Label>}
      </p>
      <Bar label="Now" value={view.imbalance} target={view.targetImbalance} scale={scale} tone={over ? "over" : "ok"} />
      <Bar label="After the recommendations" value={view.imbalanceAfter} target={view.targetImbalance} scale={scale} tone={view.imbalanceAfter > view.targetImbalance ? "over" : "ok"} />
      <p className="ferry-muted">
        {path.length > 0 ? `Predicted path, move by move: σ ${path.map(sigma).join(" → ")}. ` : "No move is recommended. "}
        Basis: {view.basis.text}. As of {new Date(view.at).toLocaleTimeString()}.
      </p>
      <ImbalanceHistory history={view.history} />
    </section>
  );
}
