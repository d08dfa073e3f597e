// The WebSocket client (docs/reference/websocket.md): one connection shared by every view,
// channels reference-counted, reconnect with capped exponential backoff and
// jitter (capped low, so a restarted server is used within a second of being
// ready: decision 0035), resume of ticks channels with `since`, obedience to
// `reconnect`. The `alerts` channel (authenticated) is subscribed apart from
// the market channels, so a lapsed session never takes the others down.
import type { ServerMessage } from "./types";

/** What the connection is doing, as shown to the user. */
export type ConnState = "connecting" | "live" | "reconnecting" | "offline";

/**
 * Whether the data the server sends is current (docs/reference/websocket.md
 * `status`, decision 0036): `stale` while the server's region has lost its
 * link to the primary region (the connection itself is fine), with `since`
 * the moment (ms) the primary was last heard from.
 */
export interface DataStatus {
  stale: boolean;
  since?: number;
  reason?: string;
}

/** Receives every message of one channel, in order. */
export type Handler = (msg: ServerMessage) => void;

/** Tunables; the defaults suit a browser. */
export interface StreamOptions {
  baseDelayMs: number; // first retry delay before jitter
  maxDelayMs: number; // cap of the retry delay
  pingEveryMs: number; // keep-alive ping period
  deadAfterMs: number; // no message for this long: the connection is dead
  random: () => number; // [0, 1), for jitter
}

const ALERTS = "alerts";

const defaults: StreamOptions = {
  baseDelayMs: 100,
  maxDelayMs: 800,
  pingEveryMs: 15_000,
  deadAfterMs: 35_000,
  random: Math.random,
};

/**
 * Stream holds one WebSocket to /ws and the channels the page wants.
 *
 * Order: handlers of a channel get its messages in the server's order. For
 * a ticks channel Stream remembers the last seq delivered; after a reconnect
 * it subscribes with `since` so the server replays what was missed (or
 * sends `gap`, passed to the handlers), and drops any tick at or below that
 * seq so nothing is shown twice.
 */
export class Stream {
  private ws: WebSocket | null = null;
  private readonly subs = new Map<string, Set<Handler>>();
  private readonly lastSeq = new Map<string, number>();
  private readonly opts: StreamOptions;
  private readonly stateListeners = new Set<(s: ConnState) => void>();
  private readonly resumeListeners = new Set<() => void>();
  private readonly dataListeners = new Set<(d: DataStatus) => void>();
  private staleSeen = false; // this connection has said its data is stale
  private nextId = 1;
  private attempt = 0; // failed attempts since the last good connection
  private everLive = false;
  private retryTimer = 0;
  private pingTimer = 0;
  private lastMessageAt = 0;
  private pendingAck = 0; // id of the (re)subscribe that makes the connection live
  private stopped = false;
  state: ConnState = "connecting";
  /** Reconnections so far (for tests and the status tooltip). */
  reconnects = 0;
  /** The server's last word on its data (live until it says otherwise). */
  data: DataStatus = { stale: false };

  constructor(private readonly url: string, opts: Partial<StreamOptions> = {}) {
    this.opts = { ...defaults, ...opts };
  }

  /** Opens the connection; call once. */
  start(): void {
    window.addEventListener("online", () => this.retryNow());
    window.addEventListener("offline", () => this.setState("offline"));
    this.connect();
  }

  /** Calls fn on every change of state, and once now. Returns the remover. */
  onState(fn: (s: ConnState) => void): () => void {
    this.stateListeners.add(fn);
    fn(this.state);
    return () => this.stateListeners.delete(fn);
  }

  /**
   * Calls fn on every change of the data's status (stale or live, as the
   * server says), and once now. Returns the remover.
   */
  onData(fn: (d: DataStatus) => void): () => void {
    this.dataListeners.add(fn);
    fn(this.data);
    return () => this.dataListeners.delete(fn);
  }

  private setData(d: DataStatus): void {
    if (d.stale === this.data.stale && d.since === this.data.since) return;
    this.data = d;
    for (const fn of this.dataListeners) fn(d);
  }

  /**
   * Calls fn each time a reconnected connection is live again: views reload
   * what cannot be replayed (candle history). Returns the remover.
   */
  onResume(fn: () => void): () => void {
    this.resumeListeners.add(fn);
    return () => this.resumeListeners.delete(fn);
  }

  /** Adds handler to channel, subscribing when it is the first. Returns the remover. */
  subscribe(channel: string, handler: Handler): () => void {
    let set = this.subs.get(channel);
    if (!set) {
      set = new Set();
      this.subs.set(channel, set);
      this.send({ op: "subscribe", id: this.nextId++, channels: [channel] });
    }
    set.add(handler);
    return () => {
      const s = this.subs.get(channel);
      if (!s || !s.delete(handler) || s.size > 0) return;
      this.subs.delete(channel);
      this.lastSeq.delete(channel);
      this.send({ op: "unsubscribe", id: this.nextId++, channels: [channel] });
    };
  }

  private send(msg: object): void {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
    // not open: connect() subscribes to everything in subs when it opens
  }

  private setState(s: ConnState): void {
    // "offline" means the browser has no network, nothing else: a server that
    // is restarting is "reconnecting", however long it takes
    if (s === "reconnecting" && !navigator.onLine) s = "offline";
    if (s === this.state) return;
    this.state = s;
    for (const fn of this.stateListeners) fn(s);
  }

  private connect(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.lastMessageAt = Date.now();
      // a server whose data is stale says so before any ack; one that does
      // not is live (live() clears an earlier server's stale mark)
      this.staleSeen = false;
      const channels = [...this.subs.keys()].filter((c) => c !== ALERTS);
      if (this.subs.has(ALERTS)) ws.send(JSON.stringify({ op: "subscribe", id: this.nextId++, channels: [ALERTS] }));
      if (channels.length === 0) {
        this.live();
      } else {
        const since: Record<string, number> = {};
        for (const ch of channels) {
          const s = this.lastSeq.get(ch);
          if (s !== undefined) since[ch] = s;
        }
        this.pendingAck = this.nextId++;
        const msg: Record<string, unknown> = { op: "subscribe", id: this.pendingAck, channels };
        if (Object.keys(since).length > 0) msg.since = since;
        ws.send(JSON.stringify(msg));
      }
      clearInterval(this.pingTimer);
      this.pingTimer = window.setInterval(() => this.keepAlive(ws), this.opts.pingEveryMs);
    };
    ws.onmessage = (ev) => {
      this.lastMessageAt = Date.now();
      if (typeof ev.data !== "string") return;
      for (const line of ev.data.split("\n")) {
        if (line.trim() === "") continue;
        let msg: ServerMessage;
        try {
          msg = JSON.parse(line);
        } catch {
          console.warn("findash: bad message from server", line.slice(0, 200));
          continue;
        }
        this.dispatch(ws, msg);
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return; // replaced already
      this.ws = null;
      clearInterval(this.pingTimer);
      this.scheduleRetry();
    };
    ws.onerror = () => {
      // onclose follows and schedules the retry
    };
  }

  private live(): void {
    const wasLive = this.everLive;
    this.attempt = 0;
    this.everLive = true;
    if (wasLive) this.reconnects++;
    if (!this.staleSeen) this.setData({ stale: false });
    this.setState("live");
    if (wasLive) for (const fn of this.resumeListeners) fn();
  }

  private dispatch(ws: WebSocket, msg: ServerMessage): void {
    switch (msg.type) {
      case "ack":
        if (msg.id === this.pendingAck) {
          this.pendingAck = 0;
          this.live();
        }
        return;
      case "error":
        console.warn("findash: server error", msg.code, msg.message);
        if (msg.id !== undefined && msg.id === this.pendingAck) {
          this.pendingAck = 0;
          this.live(); // a bad channel must not keep the others from running
        }
        return;
      case "pong":
        return;
      case "status":
        // the connection stays up either way; after `live` the missed ticks
        // follow on each ticks channel, in seq order
        this.staleSeen = msg.state === "stale";
        this.setData(msg.state === "stale" ? { stale: true, since: msg.since, reason: msg.reason } : { stale: false });
        return;
      case "reconnect": {
        // the server is draining: go elsewhere after after_ms, spread by jitter
        const after = Math.max(0, msg.after_ms || 0);
        this.ws = null;
        clearInterval(this.pingTimer);
        ws.onclose = null;
        ws.close(1000, "reconnect requested");
        this.setState("reconnecting");
        this.retryTimer = window.setTimeout(() => this.connect(), after + this.opts.random() * Math.max(after, 100));
        return;
      }
      case "tick": {
        const last = this.lastSeq.get(msg.channel);
        if (last !== undefined && msg.seq <= last) return; // already delivered
        this.lastSeq.set(msg.channel, msg.seq);
        break;
      }
      case "snapshot": {
        // a fresh ticks subscription starts after the snapshot's seq; a
        // resumed one keeps its own position
        const q = msg.data as { seq?: number } | null;
        if (msg.channel.startsWith("ticks:") && !this.lastSeq.has(msg.channel) && q && typeof q.seq === "number") {
          this.lastSeq.set(msg.channel, q.seq);
        }
        break;
      }
      case "gap": {
        const last = this.lastSeq.get(msg.channel) ?? 0;
        if (msg.to > last) this.lastSeq.set(msg.channel, msg.to);
        break;
      }
    }
    const ch = (msg as { channel?: string }).channel;
    if (ch === undefined) return;
    const set = this.subs.get(ch);
    if (!set) return;
    for (const h of [...set]) {
      try {
        h(msg);
      } catch (e) {
        console.error("findash: handler of", ch, e);
      }
    }
  }

  private keepAlive(ws: WebSocket): void {
    if (Date.now() - this.lastMessageAt > this.opts.deadAfterMs) {
      // half-open connection: nothing heard for too long
      ws.close();
      if (this.ws === ws) {
        this.ws = null;
        clearInterval(this.pingTimer);
        this.scheduleRetry();
      }
      return;
    }
    this.send({ op: "ping", id: this.nextId++ });
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const { baseDelayMs, maxDelayMs, random } = this.opts;
    const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(this.attempt, 16));
    const delay = cap / 2 + random() * (cap / 2); // "equal jitter": never 0, never in step with others
    this.attempt++;
    this.setState(this.everLive ? "reconnecting" : "connecting");
    clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  private retryNow(): void {
    if (this.ws || this.stopped) return;
    this.connect();
  }

  /**
   * Reconnects at once, e.g. after signing in or out, so the new connection
   * carries the new session cookie. Ticks channels resume with `since`.
   */
  restart(): void {
    if (this.stopped) return;
    const ws = this.ws;
    this.ws = null;
    clearInterval(this.pingTimer);
    clearTimeout(this.retryTimer);
    if (ws) {
      ws.onclose = null;
      ws.close(1000, "restart");
    }
    this.connect();
  }

  /** Closes the connection for good. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.ws?.close();
    this.ws = null;
  }
}

/** The /ws URL of the page's own host. */
export function streamURL(loc: Location = location): string {
  return (loc.protocol === "https:" ? "wss://" : "ws://") + loc.host + "/ws";
}
