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

/** The shell mounts this once: the latest migration the wizard started, until dismissed. */
export function MigrationStartedNotice() {
  const [started, setStarted] = useState<StartedMigration | null>(null);
  useEffect(() => {
    listeners.add(setStarted);
    return () => {
      listeners.delete(setStarted);
    };
  }, []);
  useEffect(() => {
    if (started === null) return undefined;
    // The dialog's focus trap hands focus back to its opener in a 0 ms timer when it closes
    // (focus-trap's returnFocusOnDeactivate); this timer is queued after it, so it wins.
    const timer = setTimeout(() => {
      moveFocus(`#${DETAILS_ID}`);
    }, 0);
    return () => {
      clearTimeout(timer);
    };
  }, [started]);
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
