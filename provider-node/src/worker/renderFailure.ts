/**
 * What a failed render tells its operator and the requester. An engine that hits the sandbox's
 * memory limit (an address-space limit, so allocations fail) rarely says "out of memory": POV-Ray
 * prints "Attempt to free NULL pointer … Render failed", C++ engines `std::bad_alloc`, others are
 * killed (SIGKILL from the kernel's OOM killer). Those signs are turned into one plain sentence
 * naming the limit and the setting that raises it.
 */
import { FatalError } from "@tessellate/sdk/errors";
import { AbandonReason } from "@tessellate/sdk/protocol";
import { EngineError } from "../sandbox/engineError.ts";

const MEMORY_SIGNS = /bad_alloc|out of memory|cannot allocate memory|memory allocation failed|not enough memory|attempt to free null pointer|MemoryError|malloc/i;

/** Whether the engine failure looks like the memory limit (evidence in its output, or a kill by SIGKILL that was not our time-out). */
export function ranOutOfMemory(error: unknown): boolean {
  if (!(error instanceof EngineError) || error.code === "RENDER_TIMEOUT") return false;
  if (error.signal === "SIGKILL") return true;
  return error.lastLines.some((line) => MEMORY_SIGNS.test(line)) || MEMORY_SIGNS.test(error.message);
}

/** The failure in one line: "ran out of the 2 GiB memory limit …" when it was memory, else the engine's message. */
export function describeRenderFailure(error: unknown, memoryBytes: number): string {
  const message = (error as Error).message;
  if (!ranOutOfMemory(error)) return message;
  const gib = Math.round((memoryBytes / 1024 ** 3) * 100) / 100;
  return `ran out of the ${gib} GiB memory limit (limits.memoryBytes / TESSELLATE_MEMORY_BYTES): ${message.split("\n")[0]}`;
}

/**
 * The reason code a render failure gives back its slot with (published in `ReplicaAbandoned`
 * for the requester): the engine's refusal of the scene, a time-out, a memory limit, or a scene
 * that could not be fetched or read.
 */
export function abandonReasonOf(error: unknown): AbandonReason {
  if (ranOutOfMemory(error)) return AbandonReason.OutOfResources;
  const code = error instanceof FatalError ? error.code : undefined;
  switch (code) {
    case "RENDER_TIMEOUT":
      return AbandonReason.RenderTimeout;
    case "SCENE_EMPTY":
    case "SCENE_BAD_CID":
    case "MANIFEST_INVALID":
      return AbandonReason.SceneUnavailable;
    case "ENGINE_FAILED":
    case "ENGINE_CRASHED":
    case "SCENE_INVALID":
    case "SETTINGS_INVALID":
    case "RENDER_REQUEST_INVALID":
      return AbandonReason.SceneFault;
    default:
      return AbandonReason.Unspecified;
  }
}
