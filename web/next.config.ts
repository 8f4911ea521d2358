import type { NextConfig } from "next";

const config: NextConfig = {
  // The sdk ships TypeScript sources (its exports point at src/*.ts): compile them with the app.
  transpilePackages: ["@tessellate/sdk"],
  poweredByHeader: false,
  reactStrictMode: true,
  // Runtime config comes from the server at request time (lib/server/config.ts), never from
  // NEXT_PUBLIC_* values baked in here, so one build serves any network.
};

export default config;
