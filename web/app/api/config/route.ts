/** GET /api/config: the runtime configuration this server hands to the browser (see lib/server/config.ts). */
import { loadRuntimeConfig } from "../../../lib/server/config.ts";

export const dynamic = "force-dynamic";

export function GET(): Response {
  const result = loadRuntimeConfig();
  return Response.json(result, { status: result.ok ? 200 : 500, headers: { "cache-control": "no-store" } });
}
