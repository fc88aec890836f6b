// The login form: an API token (`ferry up` prints the admin's; `ferry token create` makes
// others). A bad token shows the server's own message.
import { ActionGroup, Alert, Button, Form, FormGroup, PageSection, TextInput, Title } from "@patternfly/react-core";
import { useState, type SyntheticEvent } from "react";
import { messageOf } from "./api.ts";

export function Login({ onLogin, initialMessage }: { onLogin: (token: string) => Promise<void>; initialMessage: string | null }) {
  const [token, setToken] = useState("");
  const [message, setMessage] = useState<string | null>(initialMessage);
  const [busy, setBusy] = useState(false);

  const submit = (event: SyntheticEvent): void => {
    event.preventDefault();
    if (token.trim() === "") {
      setMessage("Enter an API token.");
      return;
    }
    setBusy(true);
    setMessage(null);
    onLogin(token.trim()).catch((error: unknown) => {
      setMessage(messageOf(error));
      setBusy(false);
    });
  };

  return (
    <PageSection className="ferry-login">
      <Title headingLevel="h1">Ferry</Title>
      <p>Live migration of virtual machines between hosts. Log in with an API token.</p>
      {message !== null && <Alert variant="danger" isInline title="Cannot log in">{message}</Alert>}
      <Form onSubmit={submit}>
        <FormGroup label="API token" isRequired fieldId="login-token">
          <TextInput id="login-token" type="password" value={token} onChange={(_e, value) => { setToken(value); }} autoComplete="off" />
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
