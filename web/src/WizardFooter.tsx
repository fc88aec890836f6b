// A wizard's Back / Next / Cancel with, beside a disabled Next (or Finish), why: the step's
// reasons, in the footer, so they stay in view however long the step is (on a 1024×768 screen
// the step's body scrolls, the footer does not). Used by every wizard of the UI.
import { ActionList, ActionListGroup, ActionListItem, Button, HelperText, HelperTextItem, useWizardContext, WizardFooterWrapper } from "@patternfly/react-core";
import { useId } from "react";

export interface WizardFooterProps {
  /** Why Next waits; empty: Next is enabled. */
  readonly reasons: readonly string[];
  readonly nextText?: string;
  /** Next shows a spinner and waits (a Finish in flight). */
  readonly busy?: boolean;
}

export function WizardFooter({ reasons, nextText = "Next", busy = false }: WizardFooterProps) {
  const { activeStep, steps, goToNextStep, goToPrevStep, close } = useWizardContext();
  const id = useId();
  const waiting = reasons.length > 0;
  return (
    <WizardFooterWrapper>
      <ActionList>
        <ActionListGroup>
          <ActionListItem>
            <Button variant="secondary" onClick={() => { void goToPrevStep(); }} isDisabled={activeStep.index === steps[0]?.index}>
              Back
            </Button>
          </ActionListItem>
          <ActionListItem>
            <Button variant="primary" type="submit" onClick={() => { void goToNextStep(); }} isDisabled={waiting || busy} isLoading={busy} aria-describedby={waiting ? id : undefined}>
              {nextText}
            </Button>
          </ActionListItem>
        </ActionListGroup>
        <ActionListGroup>
          <ActionListItem>
            <Button variant="link" onClick={close}>
              Cancel
            </Button>
          </ActionListItem>
        </ActionListGroup>
      </ActionList>
      {waiting && (
        <HelperText id={id} component="ul" aria-label={`Why ${nextText} is disabled`} isLiveRegion className="ferry-wizard-reasons">
          {reasons.map((r) => (
            <HelperTextItem key={r} component="li" variant="error">
              {r}
            </HelperTextItem>
          ))}
        </HelperText>
      )}
    </WizardFooterWrapper>
  );
}
