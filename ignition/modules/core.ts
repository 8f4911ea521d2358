import type { ContractFuture, IgnitionModuleBuilder } from "@nomicfoundation/ignition-core";

/** Default parameters; override per network in an Ignition parameters file. */
export const DEFAULTS = {
  /** Seconds between an unstake request and its withdrawal. */
  unbondingDelay: 7n * 24n * 3600n,
  /** Protocol fee in basis points of each paid reward (capped on-chain at 1000). */
  feeBps: 100n,
} as const;

/**
 * Market and its registry over a given payment token. The market deploys its ProviderRegistry
 * in its own constructor, and that registry takes the market as its only lock/slash caller for
 * good: there is no registry admin, no role to grant and nothing for the deployer to renounce.
 * Shared by the module that deploys its own token and the one that uses an existing one.
 */
export function deployMarket(m: IgnitionModuleBuilder, token: ContractFuture<string>) {
  const deployer = m.getAccount(0);
  const admin = m.getParameter("admin", deployer);
  const treasury = m.getParameter("treasury", deployer);
  const unbondingDelay = m.getParameter("unbondingDelay", DEFAULTS.unbondingDelay);
  const feeBps = m.getParameter("feeBps", DEFAULTS.feeBps);

  const market = m.contract("JobMarket", [token, unbondingDelay, admin, treasury, feeBps]);
  const registry = m.contractAt("ProviderRegistry", m.staticCall(market, "registry"), { id: "ProviderRegistry" });
  return { registry, market };
}
