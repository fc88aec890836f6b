// OverlayMap against a plain Map: any sequence of derivations (sets in place, additions,
// removals, past the flattening threshold) reads and iterates as the Map would, and a map
// derived from never changes.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { OverlayMap } from "./overlay-map.ts";

test("derived maps read and iterate as a Map changed the same way, and the one derived from stays as it was", () => {
  fc.assert(
    fc.property(fc.array(fc.record({ set: fc.array(fc.tuple(fc.nat(60), fc.nat(9)), { maxLength: 40 }), remove: fc.array(fc.nat(60), { maxLength: 8 }) }), { maxLength: 80 }), (steps) => {
      let model = new Map<number, number>(Array.from({ length: 30 }, (_, i) => [i, 0]));
      let map: ReadonlyMap<number, number> = new Map(model);
      for (const step of steps) {
        const before = [...map.entries()];
        const next = new Map(model);
        for (const key of step.remove) next.delete(key);
        for (const [key, value] of step.set) next.set(key, value);
        const derived = OverlayMap.derive(map, step.set, step.remove);
        assert.deepEqual([...derived.entries()], [...next.entries()]);
        assert.equal(derived.size, next.size);
        for (let key = 0; key <= 60; key++) {
          assert.equal(derived.get(key), next.get(key));
          assert.equal(derived.has(key), next.has(key));
        }
        assert.deepEqual([...map.entries()], before, "the map derived from did not change");
        model = next;
        map = derived;
      }
    }),
    { numRuns: 60 },
  );
});
