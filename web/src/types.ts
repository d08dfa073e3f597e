// Wire types of the findash API and WebSocket protocol (docs/reference/http.md and websocket.md).

/** The latest quote of a symbol with its rolling 24 h statistics. */
export interface Quote {
  symbol: string;
  price: number;
  ts: number; // ms since epoch, UTC
  seq: number;
  open_24h: number;
  high_24h: number;
  low_24h: number;
  volume_24h: number;
  change_24h: number;
  change_pct_24h: number;
}

/** One OHLCV bucket; start is the bucket start in ms since epoch, UTC. */
export interface Candle {
  symbol: string;
  interval: string;
  start: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  count: number;
}

/** One trade / price update. */
export interface Tick {
  symbol: string;
  ts: number;
  price: number;
  size: number;
}

/** Every message the server sends on /ws. */
export type ServerMessage =
  | { type: "ack"; id: number }
  | { type: "error"; id?: number; code: string; message: string }
  | { type: "snapshot"; channel: string; data: unknown }
  | { type: "tick"; channel: string; seq: number; data: Tick }
  | { type: "candle"; channel: string; data: Candle }
  | { type: "quotes"; channel: string; data: Quote[] }
  | { type: "gap"; channel: string; from: number; to: number }
  | { type: "pong"; id?: number }
  | { type: "reconnect"; after_ms: number }
  | { type: "status"; state: "stale" | "live"; reason?: string; since?: number }
  | { type: "alert"; channel: string; data: unknown };

/** The candle intervals, shortest first. */
export const INTERVALS = ["1s", "1m", "5m", "15m", "1h", "1d"] as const;
export type Interval = (typeof INTERVALS)[number];

/** Milliseconds in each interval. */
export const INTERVAL_MS: Record<Interval, number> = {
  "1s": 1000,
  "1m": 60_000,
  "5m": 300_000,
  "15m": 900_000,
  "1h": 3_600_000,
  "1d": 86_400_000,
};

/** A user (GET /api/v1/me). */
export interface User {
  id: number;
  email: string;
  created_at: number;
  email_verified?: boolean;
}

/** An API key; secret only in the answer that created it. */
export interface APIKey {
  id: number;
  name: string;
  prefix: string;
  created_at: number;
  last_used_at: number | null;
  symbols: string[];
  secret?: string;
}

/** A signed-in session of the user. */
export interface Session {
  id: string;
  created_at: number;
  expires_at: number;
  current: boolean;
}

/** A watchlist as the API sends it. */
export interface WatchlistWire {
  id: number | string;
  name: string;
  symbols: string[];
}

/** The alert conditions. */
export const CONDITIONS = ["above", "below", "change_pct_above", "change_pct_below"] as const;
export type Condition = (typeof CONDITIONS)[number];

/** What creates an alert. */
export interface AlertInput {
  symbol: string;
  condition: Condition;
  threshold: number;
  notify: string[];
  webhook_url?: string;
  cooldown_s?: number;
  hysteresis?: number;
}

/** A stored alert. */
export interface Alert extends AlertInput {
  id: number;
  last_fired_at?: number | null;
  paused: boolean;
  armed: boolean;
  created_at: number;
}

/** One firing of an alert. */
export interface AlertEvent {
  id: number;
  alert_id: number;
  symbol: string;
  condition: string;
  threshold: number;
  value: number;
  price: number;
  ts: number;
  seq: number;
  notify?: string[];
  created_at?: number;
}

/** What asks for a report. */
export interface ReportInput {
  symbols: string[];
  interval: string;
  from: number;
  to: number;
  format: "csv" | "pdf";
}

/** A report and its state. */
export interface Report extends ReportInput {
  id: number;
  status: "queued" | "running" | "done" | "failed";
  error?: string;
  size?: number;
  download_url?: string;
  download_expires_at?: number;
  created_at?: number;
}

/** One position of the portfolio. */
export interface Holding {
  /** The server's id (absent for holdings kept in the browser). */
  id?: number;
  symbol: string;
  quantity: number;
  cost_basis: number;
}

/** One exchange feed's health (GET /api/v1/feeds, docs/reference/http.md#feed-status). */
export interface FeedStatus {
  venue: string;
  state: "connecting" | "connected" | "reconnecting" | "degraded" | "stopped";
  symbols: string[];
  last_message_ts: number | null;
  last_message_age_ms: number;
  lag_ms: number | null;
  reconnects: number;
  gaps_backfilled: number;
  backfilled_trades: number;
  lost_trades: number;
  messages: number;
  trades: number;
  last_error?: string;
}
