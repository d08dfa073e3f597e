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
