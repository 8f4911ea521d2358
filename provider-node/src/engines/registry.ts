/**
 * Engines by name. The node looks an engine up by the manifest's `engine.name`, never through
 * a switch: adding an engine is adding its adapter folder and one line to `defaultEngines`.
 */
import { FatalError } from "@tessellate/sdk/errors";
import { createBlenderEngine } from "./blender/index.ts";
import { createBuiltinEngine } from "./builtin/index.ts";
import type { Engine, EngineInfo } from "./engine.ts";
import { createPovrayEngine } from "./povray/index.ts";
import type { SandboxLogger, SandboxOptions } from "../sandbox/sandbox.ts";

export interface EngineRegistry {
  /** The adapter registered under `name`, installed or not. */
  get(name: string): Engine | undefined;
  /** Registered names, in registration order. */
  names(): string[];
  /** The engines installed on this machine with their exact versions (absent ones left out). */
  detectAll(): Promise<EngineInfo[]>;
}

/** Every engine Tessellate ships; the sandboxed ones run under the node's `sandbox` settings. */
export function defaultEngines(options: { sandbox?: SandboxOptions; logger?: SandboxLogger } = {}): Engine[] {
  return [createBuiltinEngine(), createPovrayEngine(options), createBlenderEngine(options)];
}

export function createEngineRegistry(engines: Engine[] = defaultEngines()): EngineRegistry {
  const byName = new Map<string, Engine>();
  for (const engine of engines) {
    if (byName.has(engine.name)) {
      throw new FatalError("ENGINE_REGISTRY_INVALID", `two engines are registered as "${engine.name}"`);
    }
    byName.set(engine.name, engine);
  }
  return {
    get: (name) => byName.get(name),
    names: () => [...byName.keys()],
    async detectAll() {
      const detected = await Promise.all([...byName.values()].map((engine) => engine.detect()));
      return detected.filter((info): info is EngineInfo => info !== null);
    },
  };
}
