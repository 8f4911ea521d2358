/**
 * Just enough of a POSIX tar (ustar + PAX long names) writer for the `get` endpoint, which Kubo
 * answers with an uncompressed tar of the file or folder.
 */

const BLOCK = 512;
/** Largest size the 11 octal digits of a ustar header hold. */
const MAX_USTAR_SIZE = 0o77777777777;

export interface TarEntry {
  /** Path inside the archive, `/`-separated, no leading slash. */
  path: string;
  type: "file" | "directory";
  /** Bytes of a file (0 for a directory). */
  size: number;
  mode?: number;
  /** Seconds since the epoch. */
  mtime?: number;
}

/** The header block(s) for one entry; for a file, its content and `tarPadding(size)` follow. */
export function tarHeader(entry: TarEntry): Uint8Array {
  const name = entry.type === "directory" && !entry.path.endsWith("/") ? `${entry.path}/` : entry.path;
  const nameBytes = Buffer.from(name, "utf8");
  const blocks: Uint8Array[] = [];
  let ustarName = name;
  const size = entry.type === "file" ? entry.size : 0;
  // PAX extended records carry what ustar cannot: paths over 100 bytes, sizes of 8 GiB and more.
  const records: Uint8Array[] = [];
  if (nameBytes.length > 100) {
    records.push(paxRecord("path", name));
    ustarName = Buffer.from(nameBytes.subarray(0, 100)).toString("utf8").replace(/\uFFFD+$/, "");
  }
  if (size > MAX_USTAR_SIZE) records.push(paxRecord("size", String(size)));
  if (records.length > 0) {
    const pax = Buffer.concat(records);
    blocks.push(headerBlock({ name: "././@PaxHeader", size: pax.length, typeflag: "x", mode: 0o644, mtime: 0 }));
    blocks.push(pax, new Uint8Array(tarPadding(pax.length)));
  }
  blocks.push(
    headerBlock({
      name: ustarName,
      size: size > MAX_USTAR_SIZE ? 0 : size,
      typeflag: entry.type === "file" ? "0" : "5",
      mode: entry.mode ?? (entry.type === "file" ? 0o644 : 0o755),
      mtime: entry.mtime ?? 0,
    }),
  );
  return Buffer.concat(blocks);
}

/** Zero bytes that pad `size` bytes of content to a whole block. */
export function tarPadding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The two zero blocks that end an archive. */
export function tarEnd(): Uint8Array {
  return new Uint8Array(BLOCK * 2);
}

function paxRecord(key: string, value: string): Uint8Array {
  // "<length> <key>=<value>\n" where <length> counts itself.
  const body = ` ${key}=${value}\n`;
  const bodyLength = Buffer.byteLength(body);
  let length = bodyLength + String(bodyLength).length;
  if (String(length).length !== String(length - bodyLength).length) length += 1;
  return Buffer.from(`${length}${body}`, "utf8");
}

function headerBlock(fields: { name: string; size: number; typeflag: string; mode: number; mtime: number }): Uint8Array {
  const block = Buffer.alloc(BLOCK);
  block.write(fields.name, 0, 100, "utf8");
  writeOctal(block, fields.mode & 0o7777, 100, 8);
  writeOctal(block, 0, 108, 8); // uid
  writeOctal(block, 0, 116, 8); // gid
  writeOctal(block, fields.size, 124, 12);
  writeOctal(block, Math.max(0, Math.floor(fields.mtime)), 136, 12);
  block.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  block.write(fields.typeflag, 156, 1, "ascii");
  block.write("ustar\u000000", 257, 8, "ascii");
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, 8, "ascii");
  return block;
}

function writeOctal(block: Buffer, value: number, offset: number, width: number): void {
  block.write(`${value.toString(8).padStart(width - 1, "0")}\u0000`, offset, width, "ascii");
}
