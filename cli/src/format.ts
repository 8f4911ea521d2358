/**
 * How the CLI writes numbers for people: token amounts (18 decimals, through viem's
 * `formatUnits`), durations, timestamps, addresses, digests and simple aligned tables.
 */
import { formatUnits, type Address } from "viem";

/** Decimals of the protocol token (RenderToken, and any token the CLI is pointed at is assumed alike). */
export const TOKEN_DECIMALS = 18;

/**
 * A token amount in base units as a decimal number of tokens, with thousands separators and
 * at most `maxFraction` fraction digits (rounded down, never hiding that a remainder exists:
 * `0.000000000000000001` shows as `<0.000001` with the default 6 digits).
 */
export function formatTokens(amount: bigint, options: { symbol?: string; maxFraction?: number } = {}): string {
  const maxFraction = options.maxFraction ?? 6;
  const negative = amount < 0n;
  const abs = negative ? -amount : amount;
  const full = formatUnits(abs, TOKEN_DECIMALS);
  const [whole, fraction = ""] = full.split(".");
  let shown = fraction.slice(0, maxFraction).replace(/0+$/, "");
  let text = `${groupThousands(whole)}${shown ? `.${shown}` : ""}`;
  if (abs !== 0n && whole === "0" && shown === "") {
    shown = `0.${"0".repeat(Math.max(0, maxFraction - 1))}1`;
    text = `<${shown}`;
  }
  const sign = negative ? "-" : "";
  return options.symbol ? `${sign}${text} ${options.symbol}` : `${sign}${text}`;
}

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Seconds as `1h 02m 03s`, `4m 05s`, `7s`, or `2d 3h` for long spans. */
export function formatDuration(totalSeconds: number): string {
  if (!Number.isFinite(totalSeconds)) return "∞";
  const negative = totalSeconds < 0;
  let s = Math.round(Math.abs(totalSeconds));
  const days = Math.floor(s / 86_400);
  s -= days * 86_400;
  const hours = Math.floor(s / 3_600);
  s -= hours * 3_600;
  const minutes = Math.floor(s / 60);
  s -= minutes * 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  let text: string;
  if (days > 0) text = `${days}d ${hours}h`;
  else if (hours > 0) text = `${hours}h ${pad(minutes)}m ${pad(s)}s`;
  else if (minutes > 0) text = `${minutes}m ${pad(s)}s`;
  else text = `${s}s`;
  return negative ? `-${text}` : text;
}

/** A rough number of seconds for estimates: `0.02 s`, `4.5 s`, else as {@link formatDuration}. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "∞";
  if (seconds < 10) return `${Number(seconds.toPrecision(2))} s`;
  return formatDuration(seconds);
}

/** Milliseconds as a short elapsed time (`0:42`, `12:05`, `1:02:03`). */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** A unix timestamp (seconds) as an ISO date, with how far it is from `nowSeconds` when given. */
export function formatTimestamp(seconds: bigint | number, nowSeconds?: bigint | number): string {
  const iso = new Date(Number(seconds) * 1000).toISOString().replace(".000Z", "Z");
  if (nowSeconds === undefined) return iso;
  const delta = Number(seconds) - Number(nowSeconds);
  return `${iso} (${delta >= 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`})`;
}

/** `0x1234…abcd` (full address with `full`). */
export function shortAddress(address: Address | string, full = false): string {
  if (full || address.length < 12) return address;
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}

/** A 32-byte digest shortened to `0x12345678…` for tables. */
export function shortHex(hex: string, digits = 8): string {
  return hex.length <= digits + 2 ? hex : `${hex.slice(0, digits + 2)}…`;
}

/** `1 segment`, `2 segments`. */
export function plural(count: number | bigint, noun: string, pluralForm = `${noun}s`): string {
  return `${count} ${count === 1 || count === 1n ? noun : pluralForm}`;
}

/** Frames as `frame 3` or `frames 3–8`. */
export function describeFrames(frames: number[]): string {
  if (frames.length === 0) return "no frames";
  return frames.length === 1 ? `frame ${frames[0]}` : `frames ${frames[0]}–${frames[frames.length - 1]}`;
}

/** Left-aligned text columns separated by two spaces; numbers are not special-cased. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** JSON with bigints as decimal strings and Maps as objects, for `--json` output. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v) => {
      if (typeof v === "bigint") return v.toString();
      if (v instanceof Map) return Object.fromEntries([...v.entries()].map(([k, x]) => [String(k), x]));
      if (v instanceof Set) return [...v];
      return v;
    },
    2,
  );
}

/** "exact verification" or "tolerant verification, tolerance 2500 bp (25 % of the compared fingerprint blocks may differ)". */
export function describeVerification(v: { mode: string; toleranceBps?: number }): string {
  if (v.mode !== "tolerant") return `${v.mode} verification`;
  return `tolerant verification, tolerance ${v.toleranceBps} bp (${(v.toleranceBps ?? 0) / 100} % of the compared fingerprint blocks may differ)`;
}
