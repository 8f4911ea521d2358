import type { CallableContractFuture, ContractFuture, Future, IgnitionModuleBuilder } from "@nomicfoundation/ignition-core";

/** Default parameters; override per network in an Ignition parameters file. */
export const DEFAULTS = {
  /** Seconds between an unstake request and its withdrawal. */
  unbondingDelay: 7n * 24n * 3600n,
  /** Protocol fee in basis points of each paid reward (capped on-chain at 1000). */
  feeBps: 100n,
  /** Shortest lease and reveal window a job may ask for, in seconds (on-chain floor 30 s).
   * Minutes on public networks: seconds-long windows invite block stuffing and sequencer timing
   * games. The devnet and the tests pass 30. */
  minLease: 600n,
  minRevealWindow: 600n,
  /** Least reward per replica (token units) whose acceptance earns reputation: reaching a
   * 9,000 score from a newcomer's 5,000 then takes 16 such replicas settled with someone else,
   * paying the protocol fee on each. 1 token of 18 decimals; set it per token and price level. */
  minCreditReward: 10n ** 18n,
  /** Token units (smallest denomination) the deployer sends through TokenProbe before deploying
   * the market over an existing token; large enough that a percentage fee shows. */
  tokenCheckAmount: 1_000_000n,
} as const;

/**
 * Market and its registry over a given payment token. The market deploys its ProviderRegistry
 * and its extension (from JobMarketExtensionBlueprint, whose code it checks by hash) in its own
 * constructor, and that registry takes the market as its only lock/slash caller for
 * good: there is no registry admin, no role to grant and nothing for the deployer to renounce.
 * Shared by the module that deploys its own token and the one that uses an existing one.
 */
export function deployMarket(m: IgnitionModuleBuilder, token: ContractFuture<string>, after: Future[] = []) {
  const deployer = m.getAccount(0);
  const admin = m.getParameter("admin", deployer);
  const treasury = m.getParameter("treasury", deployer);
  const unbondingDelay = m.getParameter("unbondingDelay", DEFAULTS.unbondingDelay);
  const feeBps = m.getParameter("feeBps", DEFAULTS.feeBps);
  const minLease = m.getParameter("minLease", DEFAULTS.minLease);
  const minRevealWindow = m.getParameter("minRevealWindow", DEFAULTS.minRevealWindow);
  const minCreditReward = m.getParameter("minCreditReward", DEFAULTS.minCreditReward);

  // The extension's creation code, kept out of JobMarket's own (EIP-3860's initcode limit); the
  // market checks its hash and deploys the extension from it.
  const blueprint = [0, 1].map((part) => m.contract("JobMarketExtensionBlueprint", [part], { id: `JobMarketExtensionBlueprint${part}`, after }));
  const market = m.contract("JobMarket", [token, unbondingDelay, admin, treasury, feeBps, minLease, minRevealWindow, minCreditReward, blueprint], { after });
  const registry = m.contractAt("ProviderRegistry", m.staticCall(market, "registry"), { id: "ProviderRegistry" });
  return { registry, market };
}

/**
 * Checks that `token` moves amounts at face value before anything is deployed over it: the
 * deployer approves TokenProbe for `tokenCheckAmount` and the probe pulls it, checks what arrived,
 * and returns it (reverting, and so stopping the deployment, for a fee-on-transfer token). The
 * deployer must hold that amount. Returns the future the market deployment waits for.
 */
export function checkToken(m: IgnitionModuleBuilder, token: CallableContractFuture<string>) {
  const amount = m.getParameter("tokenCheckAmount", DEFAULTS.tokenCheckAmount);
  const probe = m.contract("TokenProbe");
  const approve = m.call(token, "approve", [probe, amount], { id: "approveTokenProbe" });
  return m.call(probe, "check", [token, amount], { after: [approve] });
}
