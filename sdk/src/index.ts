/**
 * @tessellate/sdk — the one shared library of Tessellate: contract bindings and chain access,
 * the manifest and its segment plan, the pixel digest, compositing, storage and estimates.
 * `provider-node`, the CLI, the scripts and the dApp depend on it; it depends only on the
 * generated contract bindings.
 */
export * from "./errors.ts";
export * from "./envNames.ts";
export * from "./contracts.generated.ts";
export * from "./contractErrors.ts";
export * from "./chain.ts";
export * from "./market.ts";
export * from "./commitment.ts";
export * from "./manifest.ts";
export * from "./segmentPlan.ts";
export * from "./png.ts";
export * from "./pixelDigest.ts";
export * from "./fingerprint.ts";
export * from "./composite.ts";
export * from "./video.ts";
export * from "./estimate.ts";
export * from "./storage.ts";
export * from "./kuboStorage.ts";
export * from "./keystore.ts";
