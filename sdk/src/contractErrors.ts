/**
 * Typed contract errors. Every custom error of the three contracts (JobMarket, ProviderRegistry,
 * RenderToken, OpenZeppelin's included), taken from the generated ABIs, is one member of
 * {@link ContractErrorName}; a revert from any of the contracts decodes to `{ name, args }` against
 * all three ABIs at once — a JobMarket call that reverts inside the registry (`expire` settling
 * outcomes through `applyOutcomes`) names the registry's error, where decoding with the called
 * contract's ABI alone gave "unknown error()". Callers decide what to do by switching on
 * `name` (a typo is a compile error), never by matching strings. Browser-safe.
 */
import { BaseError, ContractFunctionRevertedError, decodeErrorResult, type ContractErrorArgs, type Hex } from "viem";
import { jobMarketAbi, providerRegistryAbi, renderTokenAbi } from "./contracts.generated.ts";
import { FatalError } from "./errors.ts";

const allItems = [...jobMarketAbi, ...providerRegistryAbi, ...renderTokenAbi] as const;
type ErrorItem = Extract<(typeof allItems)[number], { type: "error" }>;

function signatureOf(item: { name: string; inputs: readonly { type: string }[] }): string {
  return `${item.name}(${item.inputs.map((i) => i.type).join(",")})`;
}

/** The custom errors of all three contracts, each once (errors shared through OpenZeppelin appear in several ABIs). */
export const protocolErrorAbi: readonly ErrorItem[] = [
  ...new Map(allItems.filter((item): item is ErrorItem => item.type === "error").map((item) => [signatureOf(item), item])).values(),
];

/** The name of any custom error of JobMarket, ProviderRegistry or RenderToken. */
export type ContractErrorName = ErrorItem["name"];

/** A decoded custom error: its name and its arguments, typed from the ABI. */
export type KnownContractError = {
  [N in ContractErrorName]: { name: N; args: ContractErrorArgs<readonly ErrorItem[], N> };
}[ContractErrorName];

/** What a revert decodes to: a custom error, Solidity's `Error(string)` / `Panic(uint256)`, or data no ABI explains. */
export type ContractError =
  | KnownContractError
  | { name: "Error"; args: readonly [string] }
  | { name: "Panic"; args: readonly [bigint] }
  | { name: "UndecodedRevert"; args: readonly []; data: Hex | undefined };

/** Decodes revert data against the errors of all three contracts. */
export function decodeRevertData(data: Hex | undefined): ContractError {
  if (!data || data === "0x") return { name: "UndecodedRevert", args: [], data };
  try {
    const decoded = decodeErrorResult({ abi: protocolErrorAbi as readonly ErrorItem[], data });
    return { name: decoded.errorName, args: (decoded.args ?? []) as readonly unknown[] } as ContractError;
  } catch {
    return { name: "UndecodedRevert", args: [], data };
  }
}

/** The revert inside a viem error (simulation, call or write), decoded against all three ABIs; undefined when it is no revert. */
export function decodeViemRevert(error: unknown): ContractError | undefined {
  if (!(error instanceof BaseError)) return undefined;
  const revert = error.walk((e) => e instanceof ContractFunctionRevertedError);
  if (!(revert instanceof ContractFunctionRevertedError)) return undefined;
  if (revert.raw && revert.raw !== "0x") return decodeRevertData(revert.raw);
  if (revert.data?.errorName) return { name: revert.data.errorName, args: (revert.data.args ?? []) as readonly unknown[] } as ContractError;
  return { name: "UndecodedRevert", args: [], data: revert.raw };
}

/** `Name(arg, arg)`, bigints in decimal. */
export function formatContractError(revert: ContractError): string {
  if (revert.name === "UndecodedRevert") return `a revert without a known error${revert.data ? ` (data ${revert.data.slice(0, 10)}…)` : " (no data)"}`;
  const args = (revert.args as readonly unknown[]).map((a) => (typeof a === "bigint" ? a.toString() : String(a))).join(", ");
  return `${revert.name}(${args})`;
}

/** A transaction or call a contract refused: {@link revert} says with which error and arguments. Never retried as is. */
export class ContractRevertError extends FatalError {
  readonly revert: ContractError;
  /** The function or action that was refused, e.g. `expire`. */
  readonly action: string;
  constructor(action: string, revert: ContractError, options?: { cause?: unknown }) {
    super("CONTRACT_REVERTED", `${action} was rejected by the contract: ${formatContractError(revert)}`, options);
    this.revert = revert;
    this.action = action;
  }
}

/** The contract error behind `error`, when it is a {@link ContractRevertError} (what the market client throws for reverts). */
export function contractErrorOf(error: unknown): ContractError | undefined {
  return error instanceof ContractRevertError ? error.revert : undefined;
}

/** Whether `error` is a contract revert with one of these errors (names checked against the ABIs at compile time). */
export function isContractError(error: unknown, ...names: ContractErrorName[]): boolean {
  const revert = contractErrorOf(error);
  return revert !== undefined && (names as string[]).includes(revert.name);
}
