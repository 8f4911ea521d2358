/**
 * @tessellate/provider-node — the provider daemon as a library: start a node programmatically
 * (`startProviderNode(resolveConfig({...}))`), or run `tessellate-provider run` (src/cli.ts).
 */
export { startProviderNode, stopOnSignals, STATE_FILE, type ProviderNode, type ProviderNodeDeps } from "./main.ts";
export {
  ALLOW_TEST_MODES_ENV,
  CONFIG_FIELDS,
  CONFIG_FILE_ENV,
  addConfigOptions,
  cliValues,
  configSchema,
  loadConfig,
  redactConfig,
  resolveConfig,
  type ConfigOverrides,
  type LoadConfigOptions,
  type ProviderConfig,
  type ProviderConfigInput,
} from "./config/config.ts";
export { DEFAULTS } from "./config/defaults.ts";
export { KEYSTORE_PASSWORD_ENV, PRIVATE_KEY_ENV, decryptKeystore, encryptKeystore, loadAccount } from "./config/keySource.ts";
export { createMarketPort, systemClock, type ChainEvent, type Clock, type Logger, type MarketPort } from "./ports.ts";
export { createLogger, silentLogger } from "./logger.ts";
export { StateStore, type JobRow, type ReplicaRow } from "./state/stateStore.ts";
export { REPLICA_STATES, TERMINAL_STATES, TRANSITIONS, type ReplicaState } from "./state/replicaStateMachine.ts";
export { filterJob, type FilterDecision } from "./jobs/jobFilter.ts";
export { ChainWatcher } from "./chain/chainWatcher.ts";
export { Worker } from "./worker/worker.ts";
export { benchmarkEngines, buildProfile, publishProfile, type ProviderProfile } from "./profile.ts";
export { createEngineRegistry, defaultEngines, type EngineRegistry } from "./engines/registry.ts";
