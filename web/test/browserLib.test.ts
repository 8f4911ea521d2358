/**
 * What runs in the browser, without a browser: amount and duration formatting, revert and
 * rejection messages (decoded against the generated ABIs), and the devnet key provider's consent.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ContractFunctionExecutionError, ContractFunctionRevertedError, encodeErrorResult, UserRejectedRequestError } from "viem";
import { jobMarketAbi, providerRegistryAbi } from "@tessellate/sdk/contracts.generated";
import { devnetPrivateKey } from "../../scripts/devnet/accounts.ts";
import { formatAmount, formatDuration } from "../lib/format.ts";
import { createKeyProvider, memoryConsent } from "../lib/keyProvider.ts";
import { describeError, errorNameInWords } from "../lib/txError.ts";

const PROVIDER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906" as const;

describe("formatting", () => {
  it("shows token amounts with the token's decimals, grouped, at most four decimals", () => {
    assert.equal(formatAmount(1_234_567_890_000_000_000_000n, 18, "RNDR-T"), "1,234.5678 RNDR-T");
    assert.equal(formatAmount(8_080_000_000_000_000_000n, 18), "8.08");
    assert.equal(formatAmount(0n, 18, "T"), "0 T");
    assert.equal(formatAmount(undefined, 18), "…");
  });

  it("shows durations in days, hours, minutes and seconds", () => {
    assert.equal(formatDuration(3725), "1 h 2 min 5 s");
    assert.equal(formatDuration(3600), "1 h");
    assert.equal(formatDuration(0), "0 s");
    assert.equal(formatDuration(-5), "0 s");
  });
});

describe("transaction errors", () => {
  it("names a contract's custom error and its arguments, from the generated ABI", () => {
    const data = encodeErrorResult({ abi: providerRegistryAbi, errorName: "ProviderRegistryUnbondingNotReady", args: [PROVIDER, 1_700_000_000n] });
    const revert = new ContractFunctionRevertedError({ abi: providerRegistryAbi, data, functionName: "withdrawStake" });
    const error = new ContractFunctionExecutionError(revert, { abi: providerRegistryAbi, functionName: "withdrawStake", args: [] });
    const described = describeError(error, "Withdraw stake");
    assert.equal(described.kind, "revert");
    assert.deepEqual(described.revert, {
      name: "ProviderRegistryUnbondingNotReady",
      args: [
        { name: "provider", value: PROVIDER },
        { name: "readyAt", value: "1700000000" },
      ],
    });
    assert.equal(
      described.message,
      `"Withdraw stake" would be rejected by the contract: provider registry unbonding not ready (provider ${PROVIDER}, readyAt 1700000000).`,
    );
  });

  it("names a registry error raised inside a market call (decoded against all three ABIs)", () => {
    const data = encodeErrorResult({ abi: providerRegistryAbi, errorName: "ProviderRegistryInsufficientFreeStake", args: [PROVIDER, 1n, 2n] });
    const revert = new ContractFunctionRevertedError({ abi: jobMarketAbi, data, functionName: "requestClaim" });
    const error = new ContractFunctionExecutionError(revert, { abi: jobMarketAbi, functionName: "requestClaim", args: [] });
    const described = describeError(error, "Claim");
    assert.equal(described.kind, "revert");
    assert.equal(described.revert?.name, "ProviderRegistryInsufficientFreeStake");
    assert.deepEqual(described.revert?.args.map((a) => a.name), ["provider", "free", "needed"]);
  });

  it("says a rejection in the wallet sent nothing, however the wallet wraps it", () => {
    assert.equal(describeError(new UserRejectedRequestError(new Error("no")), "Stake").kind, "rejected");
    assert.equal(describeError(Object.assign(new Error("User rejected"), { code: 4001 }), "Stake").message, 'You rejected "Stake" in your wallet; nothing was sent.');
    assert.equal(describeError(new Error("boom", { cause: { code: 4001 } }), "Stake").kind, "rejected");
  });

  it("puts custom error names into words", () => {
    assert.equal(errorNameInWords("ProviderRegistryInsufficientFreeStake"), "provider registry insufficient free stake");
    assert.equal(errorNameInWords("ERC20InsufficientAllowance"), "erc20 insufficient allowance");
  });
});

describe("devnet key provider", () => {
  it("answers no account until the page asks, and forgets it when revoked", async () => {
    const provider = createKeyProvider({ privateKey: devnetPrivateKey(3), rpcUrl: "http://127.0.0.1:9", chainId: 31337, consent: memoryConsent() });
    assert.deepEqual(await provider.request({ method: "eth_accounts" }), []);
    await assert.rejects(provider.request({ method: "personal_sign", params: ["0x00", PROVIDER] }), { code: 4100 });
    assert.deepEqual(await provider.request({ method: "eth_requestAccounts" }), [PROVIDER]);
    assert.deepEqual(await provider.request({ method: "eth_accounts" }), [PROVIDER]);
    assert.equal(await provider.request({ method: "eth_chainId" }), "0x7a69");
    await assert.rejects(provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId: "0x1" }] }), { code: 4902 });
    await provider.request({ method: "wallet_revokePermissions", params: [{ eth_accounts: {} }] });
    assert.deepEqual(await provider.request({ method: "eth_accounts" }), []);
  });
});
