// Fake CPUID devices for tests: one that answers from a dump (as a CPU would, zeros for a leaf
// the dump lacks) and one that cannot be opened, failing like Linux does (EACCES, ENOENT).
import type { CpuidDump } from "../../../core/cpu/cpuid-types.ts";
import type { CpuidDevice, OpenCpuidDevice } from "../cpuid-device.ts";

export interface FakeCpuidDevice {
  readonly open: OpenCpuidDevice;
  /** The paths opened, in order. */
  readonly opened: string[];
  /** How many questions were asked. */
  readonly queries: () => number;
}

/** A device answering from `dump`; `failure` (asked at each open) makes that open fail instead. */
export function dumpCpuidDevice(dump: CpuidDump, failure: () => Error | undefined = () => undefined): FakeCpuidDevice {
  const byKey = new Map(dump.leaves.map((l) => [`${l.leaf}.${l.subleaf}`, l]));
  const opened: string[] = [];
  let queries = 0;
  const open: OpenCpuidDevice = (path) => {
    opened.push(path);
    const error = failure();
    if (error !== undefined) return Promise.reject(error);
    const device: CpuidDevice = {
      query: (leaf, subleaf) => {
        queries++;
        return Promise.resolve(byKey.get(`${leaf}.${subleaf}`) ?? { leaf, subleaf, eax: 0, ebx: 0, ecx: 0, edx: 0 });
      },
      close: () => Promise.resolve(),
    };
    return Promise.resolve(device);
  };
  return { open, opened, queries: () => queries };
}

/** The error node's fs gives for `code` (EACCES when not root, ENOENT without the module). */
export function errnoError(code: string): Error {
  return Object.assign(new Error(`${code}: fake CPUID device`), { code });
}

/** A device that never opens. */
export function unreadableCpuidDevice(code: string): OpenCpuidDevice {
  return () => Promise.reject(errnoError(code));
}
