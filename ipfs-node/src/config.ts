/**
 * Configuration of the `tessellate-ipfs` program, validated at start-up.
 * Precedence: command-line flag > environment variable > default.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { DEFAULT_API_PORT, DEFAULT_GATEWAY_PORT, DEFAULT_HOST, DEFAULT_MAX_UPLOAD_BYTES } from "./ipfsNode.ts";

export const DEFAULT_REPO_DIR = ".devnet/ipfs";

const port = z.coerce.number().int().min(0, "a port is 0 (any free port) to 65535").max(65535, "a port is 0 (any free port) to 65535");

export const ipfsNodeConfigSchema = z.strictObject({
  repoDir: z.string().min(1, "the repo folder must not be empty"),
  host: z.string().min(1),
  apiPort: port,
  gatewayPort: port,
  corsOrigins: z.array(z.union([z.literal("*"), z.url({ message: "a CORS origin is * or an origin like http://localhost:5173" })])),
  maxUploadBytes: z.coerce.number().int().positive("the upload limit must be a positive number of bytes"),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]),
});

export type IpfsNodeConfig = z.infer<typeof ipfsNodeConfigSchema>;

export const USAGE = `Usage: node ipfs-node/src/cli.ts [options]

Runs the devnet's embedded IPFS node: the Kubo RPC API subset and a read-only gateway.

Options (environment variable in brackets):
  --repo <dir>               repository folder, created if missing [TESSELLATE_IPFS_REPO] (default ${DEFAULT_REPO_DIR})
  --host <address>           interface to listen on [TESSELLATE_IPFS_HOST] (default ${DEFAULT_HOST})
  --api-port <port>          RPC API port, 0 = any free [TESSELLATE_IPFS_API_PORT] (default ${DEFAULT_API_PORT})
  --gateway-port <port>      gateway port, 0 = any free [TESSELLATE_IPFS_GATEWAY_PORT] (default ${DEFAULT_GATEWAY_PORT})
  --cors-origin <origin>     browser origin allowed to use the API; repeat, or comma-separate
                             [TESSELLATE_IPFS_CORS_ORIGINS] (default none)
  --max-upload-bytes <n>     largest add request [TESSELLATE_IPFS_MAX_UPLOAD_BYTES] (default ${DEFAULT_MAX_UPLOAD_BYTES})
  --log-level <level>        trace|debug|info|warn|error|silent [TESSELLATE_IPFS_LOG_LEVEL] (default info)
  -h, --help                 show this help
`;

/** Reads the configuration; throws an Error listing every invalid setting. Returns undefined for --help. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): IpfsNodeConfig | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      repo: { type: "string" },
      host: { type: "string" },
      "api-port": { type: "string" },
      "gateway-port": { type: "string" },
      "cors-origin": { type: "string", multiple: true },
      "max-upload-bytes": { type: "string" },
      "log-level": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help === true) return undefined;
  const origins = values["cors-origin"] ?? (env.TESSELLATE_IPFS_CORS_ORIGINS === undefined ? [] : [env.TESSELLATE_IPFS_CORS_ORIGINS]);
  const parsed = ipfsNodeConfigSchema.safeParse({
    repoDir: values.repo ?? env.TESSELLATE_IPFS_REPO ?? DEFAULT_REPO_DIR,
    host: values.host ?? env.TESSELLATE_IPFS_HOST ?? DEFAULT_HOST,
    apiPort: values["api-port"] ?? env.TESSELLATE_IPFS_API_PORT ?? DEFAULT_API_PORT,
    gatewayPort: values["gateway-port"] ?? env.TESSELLATE_IPFS_GATEWAY_PORT ?? DEFAULT_GATEWAY_PORT,
    corsOrigins: origins.flatMap((value) => value.split(",")).map((value) => value.trim().replace(/\/+$/, "")).filter((value) => value !== ""),
    maxUploadBytes: values["max-upload-bytes"] ?? env.TESSELLATE_IPFS_MAX_UPLOAD_BYTES ?? DEFAULT_MAX_UPLOAD_BYTES,
    logLevel: values["log-level"] ?? env.TESSELLATE_IPFS_LOG_LEVEL ?? "info",
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  ${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`invalid IPFS node configuration:\n${problems.join("\n")}\n\n${USAGE}`);
  }
  return parsed.data;
}
