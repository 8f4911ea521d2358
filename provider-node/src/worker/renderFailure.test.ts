import assert from "node:assert/strict";
import { test } from "node:test";
import { EngineError } from "../sandbox/engineError.ts";
import { describeRenderFailure, ranOutOfMemory } from "./renderFailure.ts";

const GIB = 1024 ** 3;
const failure = (code: "ENGINE_CRASHED" | "ENGINE_FAILED" | "RENDER_TIMEOUT", signal: string | null, lastLines: string[], message = "blender exited: Render failed") =>
  new EngineError(code, message, { exitCode: signal ? null : 1, signal, lastLines });

test("the signs of the memory limit: std::bad_alloc, POV-Ray's failed allocation, a SIGKILL that was not the time-out", () => {
  assert.ok(ranOutOfMemory(failure("ENGINE_CRASHED", "SIGABRT", ["terminate called after throwing an instance of 'std::bad_alloc'"])));
  assert.ok(ranOutOfMemory(failure("ENGINE_FAILED", null, ["Possible Parse Error: Attempt to free NULL pointer.", "Render failed"])));
  assert.ok(ranOutOfMemory(failure("ENGINE_CRASHED", "SIGKILL", [])));
  assert.equal(ranOutOfMemory(failure("RENDER_TIMEOUT", "SIGKILL", [])), false, "our own time-out kill is not memory");
  assert.equal(ranOutOfMemory(failure("ENGINE_FAILED", null, ["Parse Error: No objects in scene."])), false);
  assert.equal(ranOutOfMemory(new Error("out of memory")), false, "only engine failures");
});

test("a memory failure names the limit and the setting; others keep the engine's message", () => {
  assert.equal(
    describeRenderFailure(failure("ENGINE_CRASHED", "SIGKILL", [], "blender was killed by SIGKILL"), 2 * GIB),
    "ran out of the 2 GiB memory limit (limits.memoryBytes / TESSELLATE_MEMORY_BYTES): blender was killed by SIGKILL",
  );
  assert.equal(describeRenderFailure(failure("ENGINE_FAILED", null, ["Parse Error"], "povray exited with status 1: Parse Error"), 2 * GIB), "povray exited with status 1: Parse Error");
});
