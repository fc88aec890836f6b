// placeholder
import { Title } from "@patternfly/react-core";

export function VmPage({ name }: { name: string }) {
  return <Title headingLevel="h1">{name}</Title>;
}
