/**
 * What went wrong with a wallet or contract call, in words a person can act on. A contract
 * revert is decoded against the errors of all three generated ABIs (the sdk's contractErrors.ts);
 * this names the custom error and each of its arguments with the parameter names the ABI gives.
 */
import { BaseError, UserRejectedRequestError, type AbiParameter } from "viem";
import { decodeViemRevert, protocolErrorAbi } from "@tessellate/sdk/contractErrors";

export interface DescribedError {
  kind: "rejected" | "revert" | "other";
  /** One sentence for the person. */
  message: string;
  /** For a revert: the custom error's name and its named arguments. */
  revert?: { name: string; args: { name: string; value: string }[] };
}

/** "ProviderRegistryInsufficientFreeStake" → "provider registry insufficient free stake". */
export function errorNameInWords(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .toLowerCase();
}

function isRejection(error: unknown): boolean {
  if (error instanceof BaseError && error.walk((e) => e instanceof UserRejectedRequestError)) return true;
  let e: unknown = error;
  for (let depth = 0; e && depth < 8; depth++) {
    if (typeof e === "object" && (e as { code?: unknown }).code === 4001) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

export function describeError(error: unknown, action: string): DescribedError {
  if (isRejection(error)) return { kind: "rejected", message: `You rejected "${action}" in your wallet; nothing was sent.` };
  if (error instanceof BaseError) {
    // Decoded against all three contracts' errors: a market call that reverts inside the registry names the registry's error.
    const decoded = decodeViemRevert(error);
    if (decoded && decoded.name !== "UndecodedRevert") {
      const inputs: readonly AbiParameter[] = protocolErrorAbi.find((item) => item.name === decoded.name)?.inputs ?? [];
      const args = (decoded.args as readonly unknown[]).map((value, i) => ({
        name: inputs[i]?.name || `arg${i}`,
        value: typeof value === "bigint" ? value.toString() : String(value),
      }));
      const name = decoded.name;
      const detail = args.length ? ` (${args.map((a) => `${a.name} ${a.value}`).join(", ")})` : "";
      return {
        kind: "revert",
        message: `"${action}" would be rejected by the contract: ${errorNameInWords(name)}${detail}.`,
        revert: { name, args },
      };
    }
    return { kind: "other", message: `"${action}" failed: ${error.shortMessage}` };
  }
  return { kind: "other", message: `"${action}" failed: ${error instanceof Error ? error.message : String(error)}` };
}
