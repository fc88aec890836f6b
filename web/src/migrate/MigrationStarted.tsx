// What Finish leaves behind: a notice that the migration started, whose Details link opens
// the task Finish just created (by its id, from POST /api/migrations' answer), not whichever
// row of Recent tasks with the VM's name comes first (an older migration of the same VM, while
// the new one has not reached the list yet). Keyboard focus lands on that link: the wizard's
// dialog is gone and its opener may be too (the tree's menu), and focus must not fall to <body>.
import { Alert, AlertActionCloseButton, AlertActionLink, AlertGroup } from "@patternfly/react-core";
import { useEffect, useState } from "react";
import { moveFocus } from "../feedback.tsx";
import { hrefs, navigate } from "../router.ts";

export interface StartedMigration {
  readonly id: string;
  readonly vm: string;
  readonly destination: string;
  readonly cold: boolean;
}

const DETAILS_ID = "ferry-migration-started-details";
const listeners = new Set<(started: StartedMigration) => void>();

/** Called by the wizard with the task its Finish created. */
export function announceStarted(started: StartedMigration): void {
  for (const listener of listeners) listener(started);
}

/**
 * Focuses the Details link once it exists: a toast group renders into a container it creates
 * after mounting, and the closing dialog's focus trap hands focus back to its opener in a 0 ms
 * timer (focus-trap's returnFocusOnDeactivate), so the first try runs after that timer and
 * later ones as the link appears. Gives up after 5 s. Returns the cancel.
 */
function focusDetailsLink(): () => void {
  const selector = `#${DETAILS_ID}`;
  const observer = new MutationObserver(() => {
    if (moveFocus(selector)) stop();
  });
  const first = setTimeout(() => {
    if (moveFocus(selector)) stop();
    else observer.observe(document.body, { childList: true, subtree: true });
  }, 0);
  const giveUp = setTimeout(stop, 5000);
  function stop(): void {
    observer.disconnect();
    clearTimeout(first);
    clearTimeout(giveUp);
  }
  return stop;
}

/** The shell mounts this once: the latest migration the wizard started, until dismissed. */
export function MigrationStartedNotice() {
  const [started, setStarted] = useState<StartedMigration | null>(null);
  useEffect(() => {
    listeners.add(setStarted);
    return () => {
      listeners.delete(setStarted);
    };
  }, []);
  useEffect(() => (started === null ? undefined : focusDetailsLink()), [started]);
  if (started === null) return null;
  const what = `${started.cold ? "Cold migration" : "Migration"} of ${started.vm} to ${started.destination} started`;
  return (
    <AlertGroup isToast isLiveRegion>
      <Alert
        variant="success"
        title={what}
        data-task-id={started.id}
        actionClose={<AlertActionCloseButton aria-label={`Dismiss: ${what}`} onClose={() => { setStarted(null); }} />}
        actionLinks={
          <AlertActionLink
            component="a"
            href={hrefs.task(started.id)}
            id={DETAILS_ID}
            aria-label={`Details of the migration of ${started.vm} just started`}
            onClick={(e) => {
              e.preventDefault();
              setStarted(null);
              navigate(hrefs.task(started.id));
            }}
          >
            Details
          </AlertActionLink>
        }
      >
        Task {started.id}. Recent tasks follows its progress.
      </Alert>
    </AlertGroup>
  );
}
