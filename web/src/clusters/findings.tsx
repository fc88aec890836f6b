// A compatibility status and the findings behind it, never by colour alone: each status has
// an icon and a word; each finding its severity, message and fix. The fix shown is the one in
// the UI's words (Finding.ui), never the command line's; when the UI can do it, a link opens
// the page where it is done.
import CheckCircleIcon from "@patternfly/react-icons/dist/esm/icons/check-circle-icon";
import ExclamationCircleIcon from "@patternfly/react-icons/dist/esm/icons/exclamation-circle-icon";
import ExclamationTriangleIcon from "@patternfly/react-icons/dist/esm/icons/exclamation-triangle-icon";
import { hrefs } from "../router.ts";
import type { Finding } from "../types.ts";

type UiPlace = NonNullable<NonNullable<Finding["ui"]>["place"]>;

/** The page a fix's place starts from. */
export function placeHref(place: UiPlace): string {
  switch (place.page) {
    case "vm":
      return hrefs.vm(place.object);
    case "host":
      return hrefs.host(place.object);
    case "cluster":
      return hrefs.cluster(place.object);
    case "task":
      return hrefs.task(place.object);
  }
}

/**
 * A finding's fix in the UI's words, with a link to the page where it is done. Findings
 * recorded in tasks before findings carried UI words have none: their fix is shown as it was.
 */
export function FixText({ finding, link = true }: { finding: Finding; link?: boolean }) {
  const ui = finding.ui;
  if (ui === undefined) return <>{finding.fix}</>;
  return (
    <>
      {ui.text}
      {link && ui.place !== undefined && (
        <>
          {" "}
          <a href={placeHref(ui.place)} className="ferry-fix-link">
            Open {ui.place.page === "task" ? "the task" : `${ui.place.object}'s page`}
          </a>
        </>
      )}
    </>
  );
}

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
      <em>Fix:</em> <FixText finding={finding} />
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
