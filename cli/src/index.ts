/**
 * @tessellate/cli — the requester's and auditor's commands as functions, for the `tessellate`
 * binary (main.ts), the devnet script and end-to-end tests. Every command takes its chain client,
 * storage and output as arguments.
 */
export { submitJob, submitExitCode, prepareScene, buildManifest, jobCost, formatPlan, createJobWithPermit, SCENE_EXTENSIONS } from "./commands/submit.ts";
export type { SubmitDeps, SubmitResult, PreparedScene, JobCost } from "./commands/submit.ts";
export { waitForJob, jobOutcomeOf, jobMoneyOf } from "./commands/wait.ts";
export type { WaitForJobOptions, JobOutcome, JobMoney } from "./commands/wait.ts";
export { fetchJob, compositeJob, loadManifest, missingReason } from "./commands/fetch.ts";
export type { FetchJobOptions, FetchJobResult } from "./commands/fetch.ts";
export { jobStatus, formatJobStatus } from "./commands/status.ts";
export type { JobStatusReport, SegmentRow } from "./commands/status.ts";
export { cancelJob, closableSegments, closeInBatches } from "./commands/cancel.ts";
export type { CancelResult } from "./commands/cancel.ts";
export { auditChain, auditExitCode, formatAuditReport } from "./commands/audit.ts";
export type { AuditOptions, AuditReport } from "./commands/audit.ts";
export { withdrawBalance } from "./commands/withdraw.ts";
export * from "./audit/compare.ts";
export { verifyAcceptedSegment, compositeAvailable } from "./results.ts";
export type { SegmentCheck, CompositeReport, MissingSegment, FailedGroup } from "./results.ts";
export { findJobCreation, readJobEvents, readAllEvents, createViewReader } from "./chainReads.ts";
export { parseSubmitOptions, SUBMIT_DEFAULTS } from "./parse.ts";
export { readSceneDefaults, formatSceneDefaults, type SceneDefaults } from "./sceneDefaults.ts";
export type { SubmitOptions, RawSubmitOptions, DeadlineSpec } from "./parse.ts";
export { loadConfig, loadAccount, requireAccount, CONFIG_DEFAULTS, CONFIG_ENV } from "./config.ts";
export type { CliConfig, ConfigFlags, KeySource } from "./config.ts";
export { decryptKeystore, encryptKeystore } from "@tessellate/sdk/node";
export { UsageError, UsageErrors, EXIT_CODES, exitCodeOf } from "./errors.ts";
export { createLiveLine, formatJobProgress, jobProgressOf, renderBar } from "./progress.ts";
export type { JobProgress, ProgressStream, LiveLine } from "./progress.ts";
export { consoleOutput, silentOutput, collectingOutput } from "./output.ts";
export type { Output } from "./output.ts";
export { formatTokens } from "./format.ts";
export { createProgram, runCli, connectFromConfig } from "./main.ts";
export type { Runtime, Connection } from "./main.ts";
export { scanMarketProviders } from "./chainReads.ts";
