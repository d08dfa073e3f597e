// The REST API (docs/reference/http.md): small typed wrappers around fetch.
import type { Candle, Quote } from "./types";

/** An error answer of the API, or a network failure (status 0). */
export class APIError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

async function getJSON<T>(path: string, signal?: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { signal, headers: { Accept: "application/json" } });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new APIError(0, "network", "the server cannot be reached");
  }
  if (!res.ok) {
    let code = "http_" + res.status, message = res.statusText;
    try {
      const body = await res.json();
      code = body.error?.code ?? code;
      message = body.error?.message ?? message;
    } catch {
      // not JSON: keep the status text
    }
    throw new APIError(res.status, code, message);
  }
  return (await res.json()) as T;
}

/** Every known symbol with its latest quote (null before the first tick), following pages. */
export async function symbols(signal?: AbortSignal): Promise<{ symbol: string; quote: Quote | null }[]> {
  const all: { symbol: string; quote: Quote | null }[] = [];
  let cursor = "";
  for (let page = 0; page < 20; page++) {
    const q = new URLSearchParams({ limit: "1000" });
    if (cursor) q.set("cursor", cursor);
    const body = await getJSON<{ data: { symbol: string; quote: Quote | null }[]; next_cursor?: string }>(
      "/api/v1/symbols?" + q, signal);
    all.push(...body.data);
    if (!body.next_cursor) break;
    cursor = body.next_cursor;
  }
  return all;
}

/** The latest `limit` candles of symbol up to `to` (ms; default now), oldest first. */
export async function candles(symbol: string, interval: string, limit: number, to?: number,
  signal?: AbortSignal): Promise<Candle[]> {
  const q = new URLSearchParams({ interval, limit: String(limit) });
  if (to !== undefined) q.set("to", String(to));
  const body = await getJSON<{ data: Candle[] }>(
    "/api/v1/candles/" + encodeURIComponent(symbol) + "?" + q, signal);
  return body.data;
}
