// Number and time formatting for prices, changes and volumes.

const fmtCache = new Map<number, Intl.NumberFormat>();

function fixed(digits: number): Intl.NumberFormat {
  let f = fmtCache.get(digits);
  if (!f) {
    f = new Intl.NumberFormat("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    fmtCache.set(digits, f);
  }
  return f;
}

/** Decimals that suit a price of this size. */
export function priceDigits(p: number): number {
  const a = Math.abs(p);
  if (a >= 1000) return 2;
  if (a >= 1) return a >= 100 ? 2 : 4;
  return 6;
}

/** A price with decimals fitting its size, e.g. 43,123.50 or 1.0842. */
export function price(p: number | undefined, ref = p): string {
  if (p === undefined || !isFinite(p)) return "—";
  return fixed(priceDigits(ref ?? p)).format(p);
}

/** A signed change, e.g. +12.50. */
export function change(c: number | undefined, ref: number | undefined): string {
  if (c === undefined || !isFinite(c)) return "—";
  return (c > 0 ? "+" : c < 0 ? "−" : "") + price(Math.abs(c), ref);
}

/** A signed percentage, e.g. +1.25 %. */
export function pct(p: number | undefined): string {
  if (p === undefined || !isFinite(p)) return "—";
  return (p > 0 ? "+" : p < 0 ? "−" : "") + fixed(2).format(Math.abs(p)) + " %";
}

const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 2 });

/** A volume, compact, e.g. 1.25M. */
export function volume(v: number | undefined): string {
  if (v === undefined || !isFinite(v)) return "—";
  return compact.format(v);
}

/** A trade size, up to 6 decimals. */
export function size(s: number): string {
  return new Intl.NumberFormat("en-US", { maximumFractionDigits: 6 }).format(s);
}

/** The time of day of ms since epoch, local, with milliseconds. */
export function time(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** "up", "down" or "" for the sign of x. */
export function dir(x: number | undefined): string {
  return x === undefined || x === 0 ? "" : x > 0 ? "up" : "down";
}
