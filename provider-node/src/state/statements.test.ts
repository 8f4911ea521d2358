import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { StateStore } from "./stateStore.ts";

test("a rederivable transaction commits, rolls back on a throw, and later transactions still work", () => {
  const dir = mkdtempSync(join(tmpdir(), "tessellate-state-"));
  try {
    const path = join(dir, "provider.sqlite");
    const store = StateStore.open(path);
    store.transaction(() => store.setCheckpoint(7n, undefined), { rederivable: true });
    assert.throws(() => store.transaction(() => {
      store.setCheckpoint(8n, undefined);
      throw new Error("half applied");
    }, { rederivable: true }), /half applied/);
    assert.equal(store.checkpoint()?.block, 7n);
    store.transaction(() => store.setMeta("k", "v"));
    store.close();
    // Reopened: both commits are in the file, the rolled-back one is not.
    const again = StateStore.open(path);
    assert.equal(again.checkpoint()?.block, 7n);
    assert.equal(again.getMeta("k"), "v");
    // The same statement text serves many calls (prepared once, reset after each).
    for (let i = 0; i < 100; i++) again.setMeta(`key${i}`, String(i));
    assert.equal(again.getMeta("key42"), "42");
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
