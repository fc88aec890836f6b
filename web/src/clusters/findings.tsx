// A compatibility status and the findings behind it, never by colour alone: each status has
// an icon and a word; each finding its severity, message and fix.
import CheckCircleIcon from "@patternfly/react-icons/dist/esm/icons/check-circle-icon";
import ExclamationCircleIcon from "@patternfly/react-icons/dist/esm/icons/exclamation-circle-icon";
import ExclamationTriangleIcon from "@patternfly/react-icons/dist/esm/icons/exclamation-triangle-icon";
import type { Finding } from "../types.ts";

export type CellStatus = "current" | "compatible" | "warnings" | "errors";

export function StatusText({ status, count }: { status: CellStatus; count?: number }) {
  const n = count === undefined ? "" : ` (${String(count)})`;
  switch (status) {
    case "current":
      return <span className="ferry-cell">runs here</span>;
    case "compatible":
      return (
        <span className="ferry-cell ferry-cell-ok">
          <CheckCircleIcon aria-hidden /> compatible
        </span>
      );
    case "warnings":
      return (
        <span className="ferry-cell ferry-cell-warning">
          <ExclamationTriangleIcon aria-hidden /> warnings{n}
        </span>
      );
    case "errors":
      return (
        <span className="ferry-cell ferry-cell-error">
          <ExclamationCircleIcon aria-hidden /> errors{n}
        </span>
      );
  }
}

function FindingItem({ finding }: { finding: Finding }) {
  return (
    <li className="ferry-finding">
      <strong>{finding.severity === "error" ? "Error" : "Warning"}</strong> ({finding.code}): {finding.message}
      <br />
      <em>Fix:</em> {finding.fix}
    </li>
  );
}

export function FindingList({ errors, warnings }: { errors: readonly Finding[]; warnings: readonly Finding[] }) {
  return (
    <ul className="ferry-findings">
      {errors.map((f, i) => (
        <FindingItem key={`e${String(i)}`} finding={f} />
      ))}
      {warnings.map((f, i) => (
        <FindingItem key={`w${String(i)}`} finding={f} />
      ))}
    </ul>
  );
}
