// The observed facts of a real Linux host: one entry for the agent and the network backend.
export { observeHost, sortDatastores, toHypervisorFacts } from "./observe.ts";
export type { DatastoreProblem, HypervisorFacts, ObservedDatastore, ObservedHost, ObserveHostOptions, ReadText } from "./observe.ts";
export { assembleNetwork, selectNicLinks } from "./network-facts.ts";
export type { NetworkFacts, NetworkReadings } from "./network-facts.ts";
export { LinkKind, Operstate, parseIpLinks, toOperstate } from "./ip-link.ts";
export type { Link, VethPeer } from "./ip-link.ts";
export { formatCidr, parseIpAddrs } from "./ip-addr.ts";
export type { InterfaceAddress } from "./ip-addr.ts";
export { parseIpRouteGateways } from "./ip-route.ts";
export { parseMeminfo, parseSysfsOperstate, parseSysfsSpeed } from "./proc.ts";
export { parseCpuHelp, parseMachineHelp, parseQemuVersion } from "./qemu-help.ts";
export type { MachineType, QemuVersion } from "./qemu-help.ts";
export { clearQemuFactsCache, DEFAULT_QEMU_BINARY, locateBinary, readQemuFacts } from "./qemu-facts.ts";
export type { QemuFacts } from "./qemu-facts.ts";
export { checkDatastoreName, DATASTORE_IDENTITY_FILE, DatastoreIdentitySchema, initDatastore, probeWrite, readDatastore, resolveOnDatastore } from "../datastore.ts";
export type { DatastoreIdentity, DatastoreReading, WriteProbe } from "../datastore.ts";
