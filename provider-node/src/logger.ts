/**
 * Structured logging (pino): one JSON line per event that matters, with `jobId`, `segment` and
 * `replica` fields where they apply. Anything that looks like a secret is redacted by path, and
 * no part of the node ever passes the key or the keystore password to the logger.
 */
import { pino } from "pino";
import type { Logger } from "./ports.ts";

export const REDACTED_PATHS = ["privateKey", "*.privateKey", "password", "*.password", "apiToken", "*.apiToken", "authorization", "*.authorization", "headers.authorization"];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { name: "tessellate-provider" }, redact: { paths: REDACTED_PATHS, censor: "<redacted>" } };
  return (destination ? pino(options, destination as pino.DestinationStream) : pino(options)) as unknown as Logger;
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = createLogger("silent");
