// The REST API (docs/reference/http.md): small typed wrappers around fetch.
// Signed-in requests ride on the session cookie (HttpOnly, set by login);
// every unsafe method echoes the findash_csrf cookie in X-CSRF-Token, as
// decision 0004 asks of cookie-authenticated writes.
import type {
  Alert, AlertEvent, AlertInput, APIKey, Candle, FeedStatus, Holding, Quote, Report, ReportInput, Session, User, WatchlistWire,
} from "./types";

/** An error answer of the API, or a network failure (status 0). */
export class APIError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

function csrf(): string {
  const m = document.cookie.match(/(?:^|;\s*)findash_csrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : "";
}

/** Sends one request and decodes the JSON answer (undefined for 204). */
export async function request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") {
    const t = csrf();
    if (t) headers["X-CSRF-Token"] = t;
  }
  let res: Response;
  try {
    res = await fetch(path, {
      method, signal, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new APIError(0, "network", "the server cannot be reached");
  }
  if (!res.ok) {
    let code = "http_" + res.status, message = res.statusText || "request failed";
    try {
      const b = await res.json();
      code = b.error?.code ?? code;
      message = b.error?.message ?? message;
    } catch {
      // not JSON: keep the status text
    }
    throw new APIError(res.status, code, message);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

const get = <T>(path: string, signal?: AbortSignal) => request<T>("GET", path, undefined, signal);

/** Every page of a {"data":[…],"next_cursor"} list (at most pages × limit items). */
async function all<T>(path: string, signal?: AbortSignal, limit = 1000, pages = 20): Promise<T[]> {
  const out: T[] = [];
  let cursor = "";
  for (let page = 0; page < pages; page++) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set("cursor", cursor);
    const body = await get<{ data: T[]; next_cursor?: string }>(path + (path.includes("?") ? "&" : "?") + q, signal);
    out.push(...body.data);
    if (!body.next_cursor) break;
    cursor = body.next_cursor;
  }
  return out;
}

// --- market data ---------------------------------------------------------------

/** The exchange feeds the server runs (421 wrong_role on an instance without the ingest role). */
export const feeds = (signal?: AbortSignal) => get<{ data: FeedStatus[] }>("/api/v1/feeds", signal).then((b) => b.data);

/** Every known symbol with its latest quote (null before the first tick), following pages. */
export function symbols(signal?: AbortSignal): Promise<{ symbol: string; quote: Quote | null }[]> {
  return all("/api/v1/symbols", signal);
}

/** The latest `limit` candles of symbol up to `to` (ms; default now), oldest first. */
export async function candles(symbol: string, interval: string, limit: number, to?: number,
  signal?: AbortSignal, from?: number): Promise<Candle[]> {
  const q = new URLSearchParams({ interval, limit: String(limit) });
  if (to !== undefined) q.set("to", String(to));
  if (from !== undefined) q.set("from", String(from));
  const body = await get<{ data: Candle[] }>("/api/v1/candles/" + encodeURIComponent(symbol) + "?" + q, signal);
  return body.data;
}

// --- accounts ------------------------------------------------------------------

export const signup = (email: string, password: string) =>
  request<User>("POST", "/api/v1/auth/signup", { email, password });
export const login = (email: string, password: string) =>
  request<{ token: string; expires_at: number; user: User }>("POST", "/api/v1/auth/login", { email, password });
export const logout = () => request<void>("POST", "/api/v1/auth/logout");
export const me = (signal?: AbortSignal) => get<User>("/api/v1/me", signal);
export const verifyEmail = (token: string) => request<unknown>("POST", "/api/v1/auth/verify", { token });
export const resendVerification = (email: string) => request<unknown>("POST", "/api/v1/auth/verify/resend", { email });
export const requestPasswordReset = (email: string) =>
  request<unknown>("POST", "/api/v1/auth/password-reset", { email });
export const resetPassword = (token: string, password: string) =>
  request<unknown>("POST", "/api/v1/auth/password-reset/confirm", { token, password });

export const apiKeys = (signal?: AbortSignal) => get<{ data: APIKey[] }>("/api/v1/apikeys", signal).then((b) => b.data);
export const createAPIKey = (name: string, syms: string[]) =>
  request<APIKey>("POST", "/api/v1/apikeys", syms.length ? { name, symbols: syms } : { name });
export const revokeAPIKey = (id: number) => request<void>("DELETE", "/api/v1/apikeys/" + id);

export const sessions = (signal?: AbortSignal) => get<{ data: Session[] }>("/api/v1/sessions", signal).then((b) => b.data);
export const revokeSession = (id: string) => request<void>("DELETE", "/api/v1/sessions/" + encodeURIComponent(id));

// --- watchlists ----------------------------------------------------------------

export const watchlists = (signal?: AbortSignal) => all<WatchlistWire>("/api/v1/watchlists", signal, 100, 5);
export const createWatchlist = (name: string, syms: string[]) =>
  request<WatchlistWire>("POST", "/api/v1/watchlists", { name, symbols: syms });
export const putWatchlist = (id: string, name: string, syms: string[]) =>
  request<WatchlistWire>("PUT", "/api/v1/watchlists/" + encodeURIComponent(id), { name, symbols: syms });
export const deleteWatchlist = (id: string) => request<void>("DELETE", "/api/v1/watchlists/" + encodeURIComponent(id));

// --- alerts --------------------------------------------------------------------

export const alerts = (signal?: AbortSignal) => all<Alert>("/api/v1/alerts", signal, 1000, 5);
export const createAlert = (a: AlertInput) => request<Alert>("POST", "/api/v1/alerts", a);
export const patchAlert = (id: number, patch: Record<string, unknown>) =>
  request<Alert>("PATCH", "/api/v1/alerts/" + id, patch);
export const deleteAlert = (id: number) => request<void>("DELETE", "/api/v1/alerts/" + id);
export const alertEvents = (limit = 100, signal?: AbortSignal) =>
  get<{ data: AlertEvent[] }>("/api/v1/alerts/events?limit=" + limit, signal).then((b) => b.data);

// --- reports -------------------------------------------------------------------

export const reports = (signal?: AbortSignal) =>
  get<{ data: Report[] }>("/api/v1/reports?limit=50", signal).then((b) => b.data);
export const createReport = (r: ReportInput) => request<Report>("POST", "/api/v1/reports", r);
export const report = (id: number, signal?: AbortSignal) => get<Report>("/api/v1/reports/" + id, signal);

// --- portfolio -----------------------------------------------------------------

/** The caller's holdings, valued by the server (the page values them live itself). */
export const holdings = (signal?: AbortSignal) =>
  get<{ holdings: Holding[] }>("/api/v1/portfolio", signal).then((b) => b.holdings);
export const addHolding = (symbol: string, quantity: number, cost: number) =>
  request<Holding>("POST", "/api/v1/portfolio/holdings", { symbol, quantity, cost_basis: cost });
export const putHolding = (id: number, quantity: number, cost: number) =>
  request<Holding>("PUT", "/api/v1/portfolio/holdings/" + id, { quantity, cost_basis: cost });
export const deleteHolding = (id: number) => request<void>("DELETE", "/api/v1/portfolio/holdings/" + id);
