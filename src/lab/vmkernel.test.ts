import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FerryError, isFerryError } from "../core/errors.ts";
import { LabNetwork, type CommandRunner } from "./netns.ts";
import { inSubnet, labVmkernelControl, physEndName } from "./vmkernel.ts";

const missing = new FerryError("IO", "`ip` failed: Device does not exist", { details: { stderr: 'Device "vmk2" does not exist.' } });

/** Records calls; `link show` of a port not in `existing` fails as ip does. */
function fakeRunner(existing: readonly string[]): { run: CommandRunner; calls: string[] } {
  const calls: string[] = [];
  const run: CommandRunner = (file, args) => {
    const joined = [file, ...args].join(" ");
    calls.push(joined);
    const show = /link show (\S+)$/.exec(joined);
    if (show?.[1] !== undefined && !existing.includes(show[1])) return Promise.reject(missing);
    return Promise.resolve("");
  };
  return { run, calls };
}

function control(existing: readonly string[]) {
  const { run, calls } = fakeRunner(existing);
  const lab = new LabNetwork("v1", run);
  return { calls, vmk: labVmkernelControl(lab, lab.ns("esx01"), { physNamespace: lab.ns("phys"), vmotionBridge: "vmotion", run }) };
}

describe("lab VMkernel ports", () => {
  test("an existing port gets exactly its new address, MTU and VMotion alias, and stays up", async () => {
    const { vmk, calls } = control(["vmk1"]);
    const done = await vmk.apply("vmk1", { ip: "198.19.0.21", prefix: 16, vmotion: true, mtu: 9000 });
    assert.deepEqual(done, ["198.19.0.21/16 on vmk1", "MTU 9000", "VMotion on"]);
    assert.deepEqual(calls, [
      "ip -n ferry-v1-esx01 link show vmk1",
      "ip -n ferry-v1-esx01 addr flush dev vmk1",
      "ip -n ferry-v1-esx01 addr add 198.19.0.21/16 dev vmk1",
      "ip -n ferry-v1-esx01 link set vmk1 mtu 9000",
      "ip -n ferry-v1-esx01 link set vmk1 alias vmotion",
      "ip -n ferry-v1-esx01 link set vmk1 up",
    ]);
  });

  test("a new port is a veth cabled to the VMotion bridge; the gateway is recorded, never routed", async () => {
    const { vmk, calls } = control([]);
    const phys = physEndName("ferry-v1-esx01", "vmk2");
    assert.ok(Buffer.byteLength(phys) <= 15);
    await vmk.apply("vmk2", { ip: "198.19.1.1", prefix: 16, vmotion: false, mtu: 1500, gateway: "198.19.0.254" });
    assert.ok(calls.includes(`ip link add name vmk2 netns ferry-v1-esx01 type veth peer name ${phys} netns ferry-v1-phys`));
    assert.ok(calls.includes(`ip -n ferry-v1-phys link set ${phys} master vmotion`));
    assert.ok(calls.includes("ip -n ferry-v1-esx01 link set vmk2 alias vmkernel gw 198.19.0.254"));
    assert.ok(!calls.some((c) => c.includes("route")), "no route is ever added");
  });

  test("refuses, before any command, what a lab must not do", async () => {
    const cases: [string, Parameters<ReturnType<typeof control>["vmk"]["apply"]>[1], RegExp][] = [
      ["vmk1", { ip: "203.0.113.5", prefix: 24, vmotion: true, mtu: 1500 }, /outside 198\.18\.0\.0\/15/],
      ["vmk1", { ip: "198.19.0.5", prefix: 16, vmotion: true, mtu: 1500, gateway: "198.20.0.1" }, /Gateway 198\.20\.0\.1 is outside 198\.19\.0\.5\/16/],
      ["VMK 1", { ip: "198.19.0.5", prefix: 16, vmotion: true, mtu: 1500 }, /cannot name a link/],
    ];
    for (const [port, request, message] of cases) {
      const { vmk, calls } = control(["vmk1"]);
      await assert.rejects(vmk.apply(port, request), (e) => isFerryError(e) && e.code === "INVALID_INPUT" && message.test(e.message));
      assert.deepEqual(calls, []);
    }
  });

  test("remove deletes the port's link; a port already gone is not an error", async () => {
    const { run, calls } = fakeRunner([]);
    const lab = new LabNetwork("v1", run);
    const gone = labVmkernelControl(lab, lab.ns("esx01"), { physNamespace: lab.ns("phys"), vmotionBridge: "vmotion", run: () => Promise.reject(missing) });
    assert.deepEqual(await gone.remove("vmk2"), []);
    const there = labVmkernelControl(lab, lab.ns("esx01"), { physNamespace: lab.ns("phys"), vmotionBridge: "vmotion", run });
    assert.deepEqual(await there.remove("vmk2"), ["deleted vmk2"]);
    assert.deepEqual(calls, ["ip -n ferry-v1-esx01 link delete vmk2"]);
  });

  test("subnets", () => {
    assert.equal(inSubnet("198.19.0.5", 16, "198.19.255.254"), true);
    assert.equal(inSubnet("198.19.0.5", 24, "198.19.1.1"), false);
    assert.equal(inSubnet("198.19.0.5", 32, "198.19.0.5"), true);
  });
});
