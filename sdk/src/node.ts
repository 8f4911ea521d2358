/**
 * @tessellate/sdk/node — the parts of the sdk that need Node.js (the file system, child
 * processes, node:crypto): the Kubo RPC storage client (adds folders from disk, writes fetched
 * folders to disk), V3 keystores, compositing frames to disk, assembling a video with ffmpeg, and
 * reading a .blend file's render settings with the local Blender, node:zlib for the PNG codec and
 * node:crypto's SHA-256 for the pixel digest.
 * Everything else is in the browser-safe core, `@tessellate/sdk`.
 */
export * from "./kuboStorage.ts";
export * from "./keystore.ts";
export * from "./composite.ts";
export * from "./video.ts";
export * from "./blenderScene.ts";
export * from "./nodeZlib.ts";
export * from "./nodeSha256.ts";
