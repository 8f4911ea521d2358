/** Display helpers: token amounts with the token's own decimals, addresses, durations. */
import { formatUnits } from "viem";

export function formatAmount(amount: bigint | undefined, decimals: number | undefined, symbol?: string): string {
  if (amount === undefined || decimals === undefined) return "…";
  const [whole, fraction = ""] = formatUnits(amount, decimals).split(".");
  const shown = fraction.slice(0, 4).replace(/0+$/, "");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${grouped}${shown ? `.${shown}` : ""}${symbol ? ` ${symbol}` : ""}`;
}

export function shortAddress(address: string): string {
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}

/** 3725 → "1 h 2 min 5 s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const parts: string[] = [];
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3_600);
  const m = Math.floor((s % 3_600) / 60);
  if (d) parts.push(`${d} d`);
  if (h) parts.push(`${h} h`);
  if (m) parts.push(`${m} min`);
  if (s % 60 || parts.length === 0) parts.push(`${s % 60} s`);
  return parts.join(" ");
}

/** Basis points → "50.00 %". */
export function formatBps(bps: number | undefined): string {
  return bps === undefined ? "…" : `${(bps / 100).toFixed(2)} %`;
}
