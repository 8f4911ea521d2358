/**
 * Typed errors shared by every Tessellate program. Retry policy depends on the class, never on
 * string matching: a `RetryableError` may succeed if the same operation is tried again later
 * (an RPC hiccup, an IPFS timeout); a `FatalError` will not (bad input, a corrupt scene).
 */
export class TessellateError extends Error {
  /** Machine-readable code, stable across releases (e.g. `MANIFEST_INVALID`). */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The operation may succeed if tried again later. */
export class RetryableError extends TessellateError {}

/** Trying again will not help: the input, the scene or the configuration must change. */
export class FatalError extends TessellateError {}

export function isRetryable(error: unknown): boolean {
  return error instanceof RetryableError;
}
