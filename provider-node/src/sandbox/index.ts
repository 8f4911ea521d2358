export { EngineError, type EngineErrorCode } from "./engineError.ts";
export { commandOutput, findEngineOutput, resolveSceneEntry } from "./engineFiles.ts";
export {
  probeIsolation,
  runSandboxed,
  withWorkDir,
  type IsolationReport,
  type SandboxLogger,
  type SandboxRequest,
  type SandboxResult,
  type SandboxRunner,
} from "./sandbox.ts";
