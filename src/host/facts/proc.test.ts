import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFerryError } from "../../core/errors.ts";
import { fixture } from "./fixtures/fixtures.ts";
import { Operstate } from "./ip-link.ts";
import { parseMeminfo, parseSysfsOperstate, parseSysfsSpeed } from "./proc.ts";

describe("/proc/meminfo", () => {
  test("MemTotal in MB: 24683784 kB is 24105 MB", () => {
    assert.equal(parseMeminfo(fixture("meminfo.txt")), 24105);
  });

  test("MemTotal need not be the first line; a text without it is one INVALID_INPUT sentence", () => {
    assert.equal(parseMeminfo("MemFree:  1024 kB\nMemTotal:        2048 kB\n"), 2);
    for (const text of ["", "MemFree: 1 kB\n", "MemTotal: lots kB\n"]) {
      assert.throws(() => parseMeminfo(text), (e) => isFerryError(e) && e.code === "INVALID_INPUT" && /MemTotal/.test(e.message));
    }
  });
});

describe("/sys/class/net/IF", () => {
  test("speed in Mb/s as sysfs prints it", () => {
    assert.equal(parseSysfsSpeed("10000\n"), 10000);
    assert.equal(parseSysfsSpeed("1000"), 1000);
  });

  test("unknown or unreadable speeds are 0: -1, SPEED_UNKNOWN unsigned, an EINVAL read, garbage", () => {
    for (const text of ["-1\n", "4294967295\n", undefined, "", "fast"]) assert.equal(parseSysfsSpeed(text), 0, String(text));
  });

  test("operstate", () => {
    assert.equal(parseSysfsOperstate("up\n"), Operstate.up);
    assert.equal(parseSysfsOperstate("down\n"), Operstate.down);
    assert.equal(parseSysfsOperstate("lowerlayerdown\n"), Operstate.lowerLayerDown);
    assert.equal(parseSysfsOperstate(undefined), Operstate.unknown);
    assert.equal(parseSysfsOperstate("sideways"), Operstate.unknown);
  });
});
