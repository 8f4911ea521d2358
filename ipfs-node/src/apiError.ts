/**
 * Errors answered by the RPC API and the gateway. The RPC API writes them in Kubo's JSON shape
 * `{ Message, Code, Type: "error" }`, which `kubo-rpc-client` turns into an `Error` carrying the
 * message.
 */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ApiError";
    this.status = status;
  }
}

export const badRequest = (message: string): ApiError => new ApiError(400, message);
export const notFound = (message: string): ApiError => new ApiError(404, message);

/** Kubo's error body; `Code` follows go-ipfs-cmds (0 normal, 1 client error, 3 not found). */
export function kuboErrorBody(error: ApiError): { Message: string; Code: number; Type: "error" } {
  const code = error.status === 404 ? 3 : error.status < 500 ? 1 : 0;
  return { Message: error.message, Code: code, Type: "error" };
}

/** Maps what Helia, the exporter or the importer throw onto an HTTP answer. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const name = (error as { name?: unknown } | null)?.name;
  const message = error instanceof Error ? error.message : String(error);
  switch (name) {
    case "NotFoundError":
    case "BlockNotFoundWhileOfflineError":
      return new ApiError(404, message, { cause: error });
    case "BadPathError":
    case "NotUnixFSError":
    case "NoResolverError":
    case "InvalidParametersError":
    case "InvalidContentError":
    case "InvalidAvgChunkSizeError":
    case "InvalidChunkSizeError":
    case "InvalidMinChunkSizeError":
    case "InvalidBlockSizeError":
      return new ApiError(400, message, { cause: error });
    default:
      return new ApiError(500, message, { cause: error });
  }
}
