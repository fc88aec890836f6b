// Fault injection, by rule, as govmomi's vcsim does it: a sim driver holds a set of rules
// that its migration streams and its prepareIncoming obey. Rules can change at runtime
// (`SimDriver.setFaults`), so an agent can expose them to integration tests. Each rule acts
// on this host's side of a stream: set on the source it cuts or stalls what the source
// sends, set on the destination what it receives.

export interface SimFaults {
  /** Destroys the migration stream once this host has moved this many bytes on it. */
  readonly cutStreamAfterBytes?: number | undefined;
  /** After this many bytes the stream stays open but nothing more moves (the stall watchdog's case). */
  readonly stallAfterBytes?: number | undefined;
  /** Destination: waits this long between verifying the digest and answering READY. */
  readonly delayBeforeReadyMs?: number | undefined;
  /** Destination: after COMMIT, waits this long before claiming the VM's ownership record (state "committing"). */
  readonly holdBeforeClaimMs?: number | undefined;
  /** Destination: after COMMIT, resumes the VM and waits this long before answering RUNNING. */
  readonly holdAfterCommitMs?: number | undefined;
  /**
   * Destination: after COMMIT, closes the stream without answering, having resumed the VM
   * ("running") or having destroyed the shell ("not-running"). Either way the source cannot
   * tell which: the split-brain window that `settle` resolves.
   */
  readonly dropAfterCommit?: "running" | "not-running" | undefined;
  /** Destination: prepareIncoming refuses as if the host's memory were short. */
  readonly failPrepare?: "out-of-memory" | undefined;
  /** Destination: flips one byte of received memory before verifying (CHECKSUM_MISMATCH). */
  readonly corruptMemory?: boolean | undefined;
  /** create refuses (REFUSED), as a host that cannot register the VM would: a cold migration's destination refusal. */
  readonly refuseCreate?: boolean | undefined;
  /** Destination: cannot encrypt streams (as a QEMU built without GnuTLS): `required` refuses, `opportunistic` goes clear. */
  readonly noStreamTls?: boolean | undefined;
}

export const NO_FAULTS: SimFaults = {};
