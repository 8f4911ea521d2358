/**
 * The tar stream of the `get` endpoint, which Kubo answers with an uncompressed POSIX tar of the
 * file or folder. `tar-stream` writes the headers (ustar, PAX for long or non-ASCII names, base-256
 * sizes past 8 GiB); this module only feeds it the entries with backpressure.
 */
import * as tar from "tar-stream";

export type TarPack = tar.Pack;

export interface TarEntry {
  /** Path inside the archive, `/`-separated, no leading slash. */
  path: string;
  mode?: number;
  /** Seconds since the epoch. */
  mtime?: number;
}

export function createTarPack(): TarPack {
  return tar.pack();
}

export async function packDirectory(pack: TarPack, entry: TarEntry): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const name = entry.path.endsWith("/") ? entry.path : `${entry.path}/`;
    pack.entry({ ...header(entry, 0o755), name, type: "directory" }, (error) => (error ? reject(error) : resolve()));
  });
}

/** Writes one file of `size` bytes from `content`, waiting whenever the archive's reader is behind. */
export async function packFile(pack: TarPack, entry: TarEntry & { size: number }, content: AsyncIterable<Uint8Array>): Promise<void> {
  // tar-stream calls back once the entry is done: written whole, or destroyed with the archive.
  let settle!: (error?: Error | null) => void;
  const done = new Promise<void>((resolve, reject) => (settle = (error) => (error ? reject(error) : resolve())));
  const sink = pack.entry({ ...header(entry, 0o644), type: "file", size: entry.size }, (error) => settle(error));
  for await (const chunk of content) {
    if (sink.destroyed) break;
    if (!sink.write(chunk)) await Promise.race([new Promise<void>((resolve) => sink.once("drain", () => resolve())), done]);
  }
  sink.end(undefined); // streamx: end() with no last chunk
  await done;
}

function header(entry: TarEntry, defaultMode: number): Omit<tar.Header, "type" | "size" | "linkname" | "uname" | "gname" | "devmajor" | "devminor"> {
  return { name: entry.path, mode: entry.mode ?? defaultMode, mtime: new Date((entry.mtime ?? 0) * 1000), uid: 0, gid: 0 };
}
