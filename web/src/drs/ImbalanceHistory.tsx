// A cluster's σ over the last hour (the DRS view's `history`: one point every usage sampling
// interval and one per view, oldest first, in the controller's memory only) against the target
// its threshold set, drawn with uPlot as the usage charts are. The view is read again with the
// inventory, so the chart is the history as of the tab's last answer.
import { Title } from "@patternfly/react-core";
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { DrsImbalancePoint } from "./model.ts";
import { sigma } from "./model.ts";

function chartOptions(width: number): uPlot.Options {
  return {
    width,
    height: 180,
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(max, 0.05) * 1.2] } },
    axes: [{}, { label: "σ", size: 60 }],
    series: [
      {},
      { label: "σ", stroke: "#0066cc", width: 2, fill: "rgba(0, 102, 204, 0.08)", points: { show: true, size: 4 } },
      { label: "target σ", stroke: "#6a6e73", width: 1, dash: [6, 4], points: { show: false } },
    ],
  };
}

function HistoryChart({ history }: { history: readonly DrsImbalancePoint[] }) {
  const target = useRef<HTMLDivElement | null>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const element = target.current;
    if (element === null) return;
    const chart = new uPlot(chartOptions(Math.max(360, Math.min(640, element.clientWidth || 480))), [[], [], []], element);
    plot.current = chart;
    return () => {
      chart.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => {
    plot.current?.setData([history.map((p) => p.at / 1000), history.map((p) => p.imbalance), history.map((p) => p.target)]);
  });
  return <div ref={target} />;
}

export function ImbalanceHistory({ history }: { history: readonly DrsImbalancePoint[] }) {
  const first = history[0];
  const last = history[history.length - 1];
  const minutes = first !== undefined && last !== undefined ? (last.at - first.at) / 60000 : 0;
  return (
    <figure className="ferry-chart" aria-label="Imbalance history chart" data-points={history.length}>
      <Title headingLevel="h3" size="md">
        Imbalance, last hour
      </Title>
      {history.length >= 2 && <HistoryChart history={history} />}
      <figcaption className="ferry-muted">
        {history.length < 2 || last === undefined
          ? "No history yet: the controller records the cluster's σ every sampling interval (20 s) and keeps the last hour, in memory only."
          : `${String(history.length)} points over ${minutes.toFixed(1)} min; at ${new Date(last.at).toLocaleTimeString()}: σ ${sigma(last.imbalance)} against the target σ ${sigma(last.target)}.`}
      </figcaption>
    </figure>
  );
}
