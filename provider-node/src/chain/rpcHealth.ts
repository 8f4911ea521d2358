/**
 * The chain connection's ups and downs, told once. During an RPC outage every part of the node
 * (watcher, worker, keeper) fails each of its calls; logging each one at error level, with viem's
 * multi-line request dump, buried everything else. Instead, {@link withRpcHealth} wraps the market
 * port: a call that could not reach the RPC endpoint becomes a short RetryableError
 * (`CHAIN_UNREACHABLE`, which callers back off on and do not log), the first one of an outage logs
 * one warn line, and the first call that gets through again logs one info line with how long it
 * lasted. Reverts and other answers from the chain pass through unchanged.
 */
import { HttpRequestError, TimeoutError, WebSocketRequestError, type BaseError } from "viem";
import { RetryableError } from "@tessellate/sdk/errors";
import type { Clock, Logger, MarketPort } from "../ports.ts";

export const CHAIN_UNREACHABLE = "CHAIN_UNREACHABLE";

export class RpcHealth {
  private downSince: number | undefined;
  private failedCalls = 0;
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(log: Logger, clock: Clock) {
    this.log = log.child({ part: "rpc" });
    this.clock = clock;
  }

  get down(): boolean {
    return this.downSince !== undefined;
  }

  /** A call could not reach the endpoint. */
  failed(reason: string): void {
    this.failedCalls++;
    if (this.downSince !== undefined) return;
    this.downSince = this.clock.now();
    this.log.warn({ err: reason }, "chain RPC unreachable; calls back off and retry (one line until it recovers)");
  }

  /** A call got an answer. */
  answered(): void {
    if (this.downSince === undefined) return;
    const seconds = Math.round((this.clock.now() - this.downSince) / 100) / 10;
    this.log.info({ downSeconds: seconds, failedCalls: this.failedCalls }, `chain RPC reachable again after ${seconds} s`);
    this.downSince = undefined;
    this.failedCalls = 0;
  }
}

/** Whether `error` (or its cause chain) is a transport failure rather than an answer of the chain. */
export function isUnreachable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof HttpRequestError || e instanceof TimeoutError || e instanceof WebSocketRequestError) return true;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === CHAIN_UNREACHABLE || code === "ECONNREFUSED" || code === "ECONNRESET" || code === "ETIMEDOUT" || code === "EHOSTUNREACH" || code === "UND_ERR_SOCKET") return true;
  }
  return false;
}

/** One line saying why, without viem's request dump ("HTTP request failed." + the cause's code). */
export function shortReason(error: unknown): string {
  const base = (error as BaseError).shortMessage ?? (error as Error).message?.split("\n")[0] ?? String(error);
  let cause: unknown = (error as { cause?: unknown }).cause;
  for (let depth = 0; cause && depth < 8; cause = (cause as { cause?: unknown }).cause, depth++) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (typeof code === "string" && /^[A-Z_]+$/.test(code)) return `${base} (${code})`;
  }
  return base;
}

/** The market port with every call's transport failures reported to `health` as one outage. */
export function withRpcHealth(market: MarketPort, health: RpcHealth): MarketPort {
  const wrapped = { ...market } as Record<string, unknown>;
  for (const [name, value] of Object.entries(market)) {
    if (typeof value !== "function") continue;
    wrapped[name] = async (...args: unknown[]) => {
      try {
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(market, args);
        health.answered();
        return result;
      } catch (error) {
        if (!isUnreachable(error)) {
          health.answered(); // the chain answered, with an error
          throw error;
        }
        const reason = shortReason(error);
        health.failed(reason);
        throw new RetryableError(CHAIN_UNREACHABLE, `${name}: the chain RPC is unreachable: ${reason}`, { cause: error });
      }
    };
  }
  return wrapped as unknown as MarketPort;
}
