// Migration settings of a cluster (issue 16): its convergence policy, as a pure edit of a
// draft beside the DRS edits (edits-drs.ts); the caller validates and stores the result.
import { ErrorCode, FerryError } from "../errors.ts";
import { convergenceWords, parseConvergencePolicy, type ConvergencePolicy } from "../migration/postcopy.ts";
import { own, positionIn } from "./draft.ts";
import type { Draft } from "./edits.ts";
import type { Cluster } from "./schema.ts";

/** Sets a cluster's convergence policy (null: back to the default, auto-converge); returns it as stored. */
export function setClusterConvergence(draft: Draft, clusterName: string, policy: ConvergencePolicy | null): string | undefined {
  const i = positionIn(draft.clusters, clusterName);
  if (i < 0) throw new FerryError(ErrorCode.notFound, `no cluster named "${clusterName}" in the inventory`);
  const cluster = own(draft.clusters, i);
  if (policy === null) {
    delete cluster.migration;
    return undefined;
  }
  const words = convergenceWords(policy);
  cluster.migration = { ...cluster.migration, convergence: words };
  return words;
}

/** A cluster's convergence policy; undefined when it has none (the default applies). */
export function clusterConvergence(cluster: Pick<Cluster, "migration">): ConvergencePolicy | undefined {
  const words = cluster.migration?.convergence;
  return words === undefined ? undefined : parseConvergencePolicy(words);
}
