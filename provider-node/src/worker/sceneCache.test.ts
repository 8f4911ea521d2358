import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { MemoryStorage } from "@tessellate/sdk/testing/memoryStorage";
import { SceneCache } from "./sceneCache.ts";

/** A scene folder of `kb` KiB. */
async function scene(storage: MemoryStorage, name: string, kb: number): Promise<string> {
  return storage.addEntries({ "scene.json": new TextEncoder().encode(name.padEnd(kb * 1024, " ")) });
}

test("the cache keeps to its budget, evicting the least recently used scenes that no render uses", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tessellate-scene-cache-"));
  const storage = new MemoryStorage();
  const cache = new SceneCache(storage, join(dir, "scenes"), { maxBytes: 3 * 1024 });
  const [a, b, c, d, e] = await Promise.all(["a", "b", "c", "d", "e"].map((n) => scene(storage, n, 1)));
  let clock = Date.now() / 1000 - 100;
  const fetchAt = async (cid: string) => {
    const path = await cache.ensure(cid, { maxBytes: 1 << 20 });
    clock += 10; // distinct use times, oldest first
    await utimes(path, clock, clock);
    return path;
  };
  for (const cid of [a, b, c]) await fetchAt(cid);
  assert.ok([a, b, c].every((cid) => cache.has(cid)), "three 1 KiB scenes fit 3 KiB");

  const releaseA = cache.use(a); // a render reads scene a
  await fetchAt(b); // b used again: c is now the least recently used not in use
  await fetchAt(d);
  assert.equal(cache.has(c), false, "c, least recently used and unused, was evicted");
  assert.ok(cache.has(a), "a is in use: never evicted, though the oldest");
  assert.ok(cache.has(b) && cache.has(d));

  releaseA();
  await fetchAt(e);
  assert.equal(cache.has(a), false, "once released, a goes first");
  assert.ok(cache.has(b) && cache.has(d) && cache.has(e));
  assert.equal(existsSync(join(dir, "scenes", c)), false);

  // A scene evicted earlier is fetched again when needed.
  assert.ok(existsSync(await cache.ensure(c, { maxBytes: 1 << 20 })));
  await rm(dir, { recursive: true, force: true });
});

test("scenes in use are kept even when they alone exceed the budget", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tessellate-scene-cache-"));
  const storage = new MemoryStorage();
  const cache = new SceneCache(storage, join(dir, "scenes"), { maxBytes: 1024 });
  const big = await scene(storage, "big", 4);
  const release = cache.use(big);
  await cache.ensure(big, { maxBytes: 1 << 20 });
  assert.ok(cache.has(big));
  release();
  const other = await scene(storage, "other", 1);
  await cache.ensure(other, { maxBytes: 1 << 20 });
  assert.equal(cache.has(big), false, "released, the oversized scene is evicted by the next fetch");
  await rm(dir, { recursive: true, force: true });
});
