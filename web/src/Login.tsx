// The login form: an API token (`ferry up` prints the admin's; `ferry token create` makes
// others). A bad token shows the server's own message, announced (role="alert") and tied to
// the field, which is marked invalid until the token is changed.
import { ActionGroup, Alert, Button, Form, FormGroup, FormHelperText, HelperText, HelperTextItem, PageSection, TextInput, Title } from "@patternfly/react-core";
import { useState, type SyntheticEvent } from "react";
import { messageOf } from "./api.ts";

export function Login({ onLogin, initialMessage }: { onLogin: (token: string) => Promise<void>; initialMessage: string | null }) {
  const [token, setToken] = useState("");
  const [message, setMessage] = useState<string | null>(initialMessage);
  const [busy, setBusy] = useState(false);
  // The field stays marked invalid from a refusal until the user edits it.
  const [invalid, setInvalid] = useState(initialMessage !== null);

  const submit = (event: SyntheticEvent): void => {
    event.preventDefault();
    if (token.trim() === "") {
      setMessage("Enter an API token.");
      setInvalid(true);
      return;
    }
    setBusy(true);
    setMessage(null);
    onLogin(token.trim()).catch((error: unknown) => {
      setMessage(messageOf(error));
      setInvalid(true);
      setBusy(false);
    });
  };

  return (
    <PageSection className="ferry-login">
      <Title headingLevel="h1">Ferry</Title>
      <p>Live migration of virtual machines between hosts. Log in with an API token.</p>
      <div role="alert" id="login-error">
        {message !== null && (
          <Alert variant="danger" isInline title="Cannot log in">
            {message}
          </Alert>
        )}
      </div>
      <Form onSubmit={submit}>
        <FormGroup label="API token" isRequired fieldId="login-token">
          <TextInput
            id="login-token"
            type="password"
            value={token}
            validated={invalid ? "error" : "default"}
            aria-describedby={invalid ? "login-error login-token-helper" : undefined}
            onChange={(_e, value) => {
              setToken(value);
              setInvalid(false);
            }}
            autoComplete="off"
          />
          {invalid && (
            <FormHelperText>
              <HelperText id="login-token-helper">
                <HelperTextItem variant="error">Paste a token that ferry up or ferry tokens create printed.</HelperTextItem>
              </HelperText>
            </FormHelperText>
          )}
        </FormGroup>
        <ActionGroup>
          <Button type="submit" variant="primary" isDisabled={busy} isLoading={busy}>
            Log in
          </Button>
        </ActionGroup>
      </Form>
    </PageSection>
  );
}
