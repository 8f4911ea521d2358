import packageJson from "../package.json" with { type: "json" };

/** Name and version this node reports in `version` and `id`. */
export const NODE_NAME = "tessellate-ipfs-node";
export const NODE_VERSION: string = packageJson.version;
