// Ferry's tables: PatternFly's, exposed as plain tables. PatternFly's Table defaults to
// role="grid", which tells a screen reader to expect the WAI-ARIA grid pattern (arrow keys
// move between cells, one Tab stop for the whole grid) that it does not implement. Ferry's
// tables are read, and their buttons and links are ordinary Tab stops: role="table".
// Screens import Table and its parts from here, not from @patternfly/react-table.
import { Table as PatternFlyTable, type TableProps } from "@patternfly/react-table";

export { Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";

export function Table({ role = "table", ...props }: TableProps) {
  return <PatternFlyTable role={role} {...props} />;
}
