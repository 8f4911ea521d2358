import assert from "node:assert/strict";
import { test } from "node:test";
import { BaseError, ContractFunctionExecutionError, ContractFunctionRevertedError, encodeErrorResult, type Address } from "viem";
import {
  ContractRevertError,
  contractErrorOf,
  decodeRevertData,
  decodeViemRevert,
  isContractError,
  protocolErrorAbi,
  type ContractErrorName,
} from "./contractErrors.ts";
import { jobMarketAbi, providerRegistryAbi, renderTokenAbi } from "./contracts.generated.ts";
import { FatalError } from "./errors.ts";
import { toProtocolError } from "./market.ts";

const PROVIDER: Address = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

/** The error viem raises when a call to JobMarket reverts with `data` (decoded with the market's ABI only, as simulateContract does). */
function marketRevert(data: `0x${string}`, functionName = "expire"): BaseError {
  const reverted = new ContractFunctionRevertedError({ abi: jobMarketAbi, data, functionName });
  return new ContractFunctionExecutionError(reverted, { abi: jobMarketAbi, functionName, contractAddress: PROVIDER, args: [] });
}

test("every custom error of the three ABIs is in the error ABI once, by name", () => {
  const names = (abi: readonly { type: string; name?: string }[]) => abi.filter((i) => i.type === "error").map((i) => i.name!);
  const all = new Set([...names(jobMarketAbi), ...names(providerRegistryAbi), ...names(renderTokenAbi)]);
  assert.deepEqual(new Set(protocolErrorAbi.map((e) => e.name)), all);
  assert.equal(protocolErrorAbi.length, all.size, "errors shared by several ABIs appear once");
  assert.ok(all.has("JobMarketNotExpirable") && all.has("ProviderRegistryInsufficientLocked") && all.has("ERC20InsufficientBalance"));
});

test("a registry error inside a JobMarket call decodes to its name and arguments (was 'unknown error()')", () => {
  const data = encodeErrorResult({ abi: providerRegistryAbi, errorName: "ProviderRegistryInsufficientLocked", args: [PROVIDER, 1n, 2n] });
  const viemError = marketRevert(data);
  // What viem itself makes of it with the market's ABI: nothing.
  const inner = viemError.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError;
  assert.equal(inner.data, undefined);

  const revert = decodeViemRevert(viemError);
  assert.deepEqual(revert, { name: "ProviderRegistryInsufficientLocked", args: [PROVIDER, 1n, 2n] });

  const error = toProtocolError(viemError, "expire");
  assert.ok(error instanceof ContractRevertError && error instanceof FatalError);
  assert.equal(error.message, `expire was rejected by the contract: ProviderRegistryInsufficientLocked(${PROVIDER}, 1, 2)`);
  assert.doesNotMatch(error.message, /unknown error/);
  assert.equal(contractErrorOf(error)?.name, "ProviderRegistryInsufficientLocked");
  assert.ok(isContractError(error, "JobMarketNotExpirable", "ProviderRegistryInsufficientLocked"));
  assert.ok(!isContractError(error, "JobMarketNotExpirable"));
});

test("the market's and the token's own errors decode with typed arguments", () => {
  const market = decodeViemRevert(marketRevert(encodeErrorResult({ abi: jobMarketAbi, errorName: "JobMarketNotExpirable", args: [7n, 3, 1] })));
  assert.deepEqual(market, { name: "JobMarketNotExpirable", args: [7n, 3, 1] });
  if (market?.name === "JobMarketNotExpirable") {
    const [jobId, segment, replica] = market.args; // typed: bigint, number, number
    assert.equal(jobId + 1n, 8n);
    assert.equal(segment + replica, 4);
  }
  const token = decodeRevertData(encodeErrorResult({ abi: renderTokenAbi, errorName: "ERC20InsufficientBalance", args: [PROVIDER, 1n, 5n] }));
  assert.deepEqual(token, { name: "ERC20InsufficientBalance", args: [PROVIDER, 1n, 5n] });
});

test("reverts no ABI explains, require strings and transport failures", () => {
  assert.deepEqual(decodeRevertData("0xdeadbeef"), { name: "UndecodedRevert", args: [], data: "0xdeadbeef" });
  assert.deepEqual(decodeRevertData(undefined), { name: "UndecodedRevert", args: [], data: undefined });
  const undecoded = toProtocolError(marketRevert("0xdeadbeef"), "claim");
  assert.ok(undecoded instanceof ContractRevertError);
  assert.equal(undecoded.message, "claim was rejected by the contract: a revert without a known error (data 0xdeadbeef…)");
  assert.deepEqual(decodeViemRevert(marketRevert(encodeErrorResult({ abi: [{ type: "error", name: "Error", inputs: [{ type: "string" }] }], errorName: "Error", args: ["nope"] }))), {
    name: "Error",
    args: ["nope"],
  });
  const transport = toProtocolError(new BaseError("socket hang up"), "claim");
  assert.ok(!(transport instanceof ContractRevertError));
  assert.equal(contractErrorOf(transport), undefined);
  assert.equal(contractErrorOf(new Error("plain")), undefined);
});

test("decisions switch on the error name; a misspelt name does not compile", () => {
  const decide = (error: unknown): string => {
    switch (contractErrorOf(error)?.name) {
      case "JobMarketTooEarly":
        return "wait";
      case "JobMarketClaimWindowClosed":
      case "JobMarketJobNotOpen":
        return "skip";
      default:
        return "retry";
    }
  };
  assert.equal(decide(new ContractRevertError("requestClaim", { name: "JobMarketTooEarly", args: [1n, 5n] })), "wait");
  assert.equal(decide(new ContractRevertError("requestClaim", { name: "JobMarketJobNotOpen", args: [1n] })), "skip");
  assert.equal(decide(new FatalError("CONTRACT_JobMarketTooEarly", "a string code alone is not a contract error")), "retry");
  // @ts-expect-error not an error of any of the three contracts
  const misspelt: ContractErrorName = "JobMarketTooEarlly";
  assert.ok(misspelt);
});
