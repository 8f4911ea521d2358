import type { ContractFuture, IgnitionModuleBuilder } from "@nomicfoundation/ignition-core";

/** Default parameters; override per network in an Ignition parameters file. */
export const DEFAULTS = {
  /** Seconds between an unstake request and its withdrawal. */
  unbondingDelay: 7n * 24n * 3600n,
  /** Protocol fee in basis points of each paid reward (capped on-chain at 1000). */
  feeBps: 100n,
} as const;

/**
 * Registry and market over a given payment token, with the market granted MARKET_ROLE on the
 * registry. Shared by the module that deploys its own token and the one that uses an existing one.
 */
export function deployMarket(m: IgnitionModuleBuilder, token: ContractFuture<string>) {
  const deployer = m.getAccount(0);
  const admin = m.getParameter("admin", deployer);
  const treasury = m.getParameter("treasury", deployer);
  const unbondingDelay = m.getParameter("unbondingDelay", DEFAULTS.unbondingDelay);
  const feeBps = m.getParameter("feeBps", DEFAULTS.feeBps);

  const registry = m.contract("ProviderRegistry", [token, unbondingDelay, deployer]);
  const market = m.contract("JobMarket", [token, registry, admin, treasury, feeBps]);
  const marketRole = m.staticCall(registry, "MARKET_ROLE");
  m.call(registry, "grantRole", [marketRole, market]);
  return { registry, market };
}
