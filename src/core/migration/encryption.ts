// Which encryption a migration's stream gets, from the clusters of its two hosts and what the
// request asked for. Like vSphere's encrypted vMotion: a setting protects the cluster's VMs'
// memory, so a move between clusters takes the stronger of the two, and a request may ask for
// more protection than its clusters give, never for less.
import { VMOTION_ENCRYPTION_STRENGTH, VmotionEncryption } from "./types.ts";

export type StreamEncryptionDecision =
  | { readonly setting: VmotionEncryption; readonly refusal?: undefined }
  | { readonly setting?: undefined; readonly refusal: string };

/** `clusters`: each host's cluster setting (undefined: a standalone host or no setting, i.e. required). */
export function streamEncryption(clusters: readonly { readonly name: string; readonly setting: VmotionEncryption | undefined }[], requested: VmotionEncryption | undefined): StreamEncryptionDecision {
  let setting: VmotionEncryption = VmotionEncryption.disabled;
  let from = "";
  for (const cluster of clusters) {
    const own = cluster.setting ?? VmotionEncryption.required;
    if (from === "" || VMOTION_ENCRYPTION_STRENGTH[own] > VMOTION_ENCRYPTION_STRENGTH[setting]) {
      setting = own;
      from = cluster.name;
    }
  }
  if (from === "") setting = VmotionEncryption.required;
  if (requested === undefined) return { setting };
  if (VMOTION_ENCRYPTION_STRENGTH[requested] < VMOTION_ENCRYPTION_STRENGTH[setting]) {
    return { refusal: `${from} sets encrypted VMotion to ${setting}; a migration may ask for a stronger setting, not ${requested}` };
  }
  return { setting: requested };
}
