export { EngineError, type EngineErrorCode } from "./engineError.ts";
export { commandOutput, findEngineOutput, resolveSceneEntry } from "./engineFiles.ts";
export {
  checkSandbox,
  NO_ISOLATION_WARNING,
  DEFAULT_WORK_ROOT,
  removeLeftoverWorkDirs,
  runSandboxed,
  withWorkDir,
  type SandboxIsolation,
  type SandboxLogger,
  type SandboxOptions,
  type SandboxReport,
  type SandboxRequest,
  type SandboxResult,
  type SandboxRunner,
} from "./sandbox.ts";
