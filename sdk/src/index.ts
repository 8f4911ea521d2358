/**
 * @tessellate/sdk — the one shared library of Tessellate, browser-safe core: contract bindings,
 * typed contract errors and chain access, the manifest and its segment plan, the pixel digest and
 * PNG codec, result file names, commitments, estimates, the storage interface and the POV-Ray INI reader. It imports no
 * `node:` module and no node-only package (`sdk/src/browserBundle.test.ts` bundles it for the
 * browser and fails if one gets in), so the dApp and any browser code use it as the CLI and the
 * provider node do. Node-only parts (disk storage, keystore, video, compositing to disk) are in
 * `@tessellate/sdk/node`. `provider-node`, the CLI, the scripts and the dApp depend on the sdk; it
 * depends only on the generated contract bindings.
 */
export * from "./errors.ts";
export * from "./envNames.ts";
export * from "./contracts.generated.ts";
export * from "./contractErrors.ts";
export * from "./chain.ts";
export * from "./market.ts";
export * from "./protocol/index.ts";
export * from "./commitment.ts";
export * from "./permit.ts";
export * from "./manifest.ts";
export * from "./segmentPlan.ts";
export * from "./png.ts";
export * from "./pixelDigest.ts";
export * from "./fingerprint.ts";
export * from "./resultFiles.ts";
export * from "./compositeCore.ts";
export * from "./estimate.ts";
export * from "./measuredEstimate.ts";
export * from "./jobRequest.ts";
export * from "./profile.ts";
export * from "./providerOffers.ts";
export * from "./storage.ts";
export * from "./povrayIni.ts";
