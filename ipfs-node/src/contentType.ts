/**
 * Content-Type for the gateway: from the file name's extension when there is one, otherwise
 * sniffed from the first bytes (a bare `/ipfs/<cid>` of a rendered frame has no name).
 */

const BY_EXTENSION: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  bmp: "image/bmp",
  ico: "image/x-icon",
  svg: "image/svg+xml",
  tif: "image/tiff",
  tiff: "image/tiff",
  exr: "image/x-exr",
  hdr: "image/vnd.radiance",
  json: "application/json",
  txt: "text/plain; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  html: "text/html; charset=utf-8",
  htm: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  xml: "application/xml",
  wasm: "application/wasm",
  pdf: "application/pdf",
  zip: "application/zip",
  gz: "application/gzip",
  tar: "application/x-tar",
  mp4: "video/mp4",
  webm: "video/webm",
  mkv: "video/x-matroska",
  mov: "video/quicktime",
  mp3: "audio/mpeg",
  wav: "audio/wav",
  ogg: "audio/ogg",
  glb: "model/gltf-binary",
  gltf: "model/gltf+json",
  obj: "model/obj",
  stl: "model/stl",
  blend: "application/x-blender",
  woff: "font/woff",
  woff2: "font/woff2",
};

/** The type for a file name's extension, or undefined when the name says nothing. */
export function typeFromName(name: string): string | undefined {
  const dot = name.lastIndexOf(".");
  if (dot <= 0 || dot === name.length - 1) return undefined;
  return BY_EXTENSION[name.slice(dot + 1).toLowerCase()];
}

const startsWith = (bytes: Uint8Array, prefix: number[], at = 0): boolean => prefix.every((byte, index) => bytes[at + index] === byte);
const ascii = (text: string): number[] => [...text].map((char) => char.charCodeAt(0));

/**
 * Guesses the type of content from its first bytes. `complete` says the sample is the whole file,
 * which lets JSON be recognised by parsing it.
 */
export function sniffType(sample: Uint8Array, complete: boolean): string {
  if (startsWith(sample, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "image/png";
  if (startsWith(sample, [0xff, 0xd8, 0xff])) return "image/jpeg";
  if (startsWith(sample, ascii("GIF87a")) || startsWith(sample, ascii("GIF89a"))) return "image/gif";
  if (startsWith(sample, ascii("RIFF")) && startsWith(sample, ascii("WEBP"), 8)) return "image/webp";
  if (startsWith(sample, [0x76, 0x2f, 0x31, 0x01])) return "image/x-exr";
  if (startsWith(sample, ascii("%PDF-"))) return "application/pdf";
  if (startsWith(sample, [0x50, 0x4b, 0x03, 0x04])) return "application/zip";
  if (startsWith(sample, [0x1f, 0x8b])) return "application/gzip";
  if (startsWith(sample, [0x00, 0x61, 0x73, 0x6d])) return "application/wasm";
  if (startsWith(sample, ascii("ftyp"), 4)) return "video/mp4";
  if (startsWith(sample, ascii("BLENDER"))) return "application/x-blender";
  const text = decodeText(sample, complete);
  if (text === undefined) return "application/octet-stream";
  const head = text.trimStart().slice(0, 256).toLowerCase();
  if (head.startsWith("<!doctype html") || head.startsWith("<html")) return "text/html; charset=utf-8";
  if (head.startsWith("<svg") || (head.startsWith("<?xml") && text.includes("<svg"))) return "image/svg+xml";
  if (head.startsWith("<?xml")) return "application/xml";
  if (complete && (head.startsWith("{") || head.startsWith("["))) {
    try {
      JSON.parse(text);
      return "application/json";
    } catch {
      // not JSON after all: plain text
    }
  }
  return "text/plain; charset=utf-8";
}

/** The sample as UTF-8 text, or undefined if it looks binary. */
function decodeText(sample: Uint8Array, complete: boolean): string | undefined {
  let text: string;
  try {
    // In stream mode a multi-byte character cut at the end of a partial sample is not an error.
    text = new TextDecoder("utf-8", { fatal: true }).decode(sample, { stream: !complete });
  } catch {
    return undefined;
  }
  // Control characters other than tab, newline, form feed and carriage return mean binary.
  return /[\u0000-\u0008\u000b\u000e-\u001a\u001c-\u001f]/.test(text) ? undefined : text;
}
