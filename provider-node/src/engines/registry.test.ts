import assert from "node:assert/strict";
import { test } from "node:test";
import type { Engine, EngineInfo } from "./engine.ts";
import { createEngineRegistry } from "./registry.ts";

function fakeEngine(name: string, info: EngineInfo | null): Engine {
  return {
    name,
    detect: async () => info,
    render: async () => {},
    benchmark: async () => ({ score: 1, seconds: 1 }),
  };
}

test("the default registry holds builtin, povray and blender", () => {
  const registry = createEngineRegistry();
  assert.deepEqual(registry.names(), ["builtin", "povray", "blender"]);
  for (const name of registry.names()) assert.equal(registry.get(name)?.name, name);
  assert.equal(registry.get("maya"), undefined);
});

test("detectAll lists only installed engines, with their versions", async () => {
  const registry = createEngineRegistry([
    fakeEngine("present", { name: "present", version: "2.1.0" }),
    fakeEngine("absent", null),
  ]);
  assert.deepEqual(await registry.detectAll(), [{ name: "present", version: "2.1.0" }]);
});

test("the default registry detects the engines installed here", async () => {
  const detected = await createEngineRegistry().detectAll();
  const names = detected.map((info) => info.name);
  assert.ok(names.includes("builtin"), "builtin needs nothing installed");
  for (const info of detected) assert.ok(info.version.length > 0);
});

test("two engines under one name are refused", () => {
  assert.throws(() => createEngineRegistry([fakeEngine("x", null), fakeEngine("x", null)]), /registered as "x"/);
});
