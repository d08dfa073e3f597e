// The feed status line under the header: one entry per exchange feed the
// server runs (GET /api/v1/feeds, decision 0021) — venue, state, how long
// since its last message, the exchange-to-findash lag — so a trader sees
// whether the prices on screen come from a venue that is talking. Hidden
// when the server runs no exchange feed (the simulator) or does not run the
// ingest role (421).
import * as api from "./api";
import { APIError } from "./api";
import { h } from "./dom";
import type { FeedStatus } from "./types";

/** How often the line is refreshed: the server's stale threshold is seconds to minutes. */
const EVERY_MS = 5000;

const venueNames: Record<string, string> = { binance: "Binance", coinbase: "Coinbase" };

/** Seconds or minutes, short: "0.4 s", "12 s", "3 min". */
function age(ms: number): string {
  if (ms < 10_000) return (ms / 1000).toFixed(1) + " s";
  if (ms < 120_000) return Math.round(ms / 1000) + " s";
  return Math.round(ms / 60_000) + " min";
}

function entry(f: FeedStatus): HTMLElement {
  const name = venueNames[f.venue] ?? f.venue;
  const parts: string[] = [f.state];
  if (f.last_message_ts !== null) parts.push("last message " + age(f.last_message_age_ms) + " ago");
  else parts.push("no message yet");
  if (f.lag_ms !== null) parts.push("lag " + Math.round(f.lag_ms) + " ms");
  const title = `${f.symbols.join(", ")} — ${f.trades} trades, ${f.reconnects} reconnects, ${f.gaps_backfilled} gaps filled`
    + (f.lost_trades ? `, ${f.lost_trades} trades lost` : "") + (f.last_error ? ` — last error: ${f.last_error}` : "");
  return h("span", { class: "feed", "data-venue": f.venue, "data-state": f.state, title },
    h("strong", {}, name), " " + parts.join(" · "));
}

/** Keeps el showing the feeds' status until the page goes away. */
export function setupFeedLine(el: HTMLElement): void {
  let stopped = false;
  const refresh = async () => {
    try {
      const feeds = await api.feeds();
      el.replaceChildren(...feeds.map(entry));
      el.hidden = feeds.length === 0;
    } catch (e) {
      if (e instanceof APIError && e.status === 421) {
        stopped = true; // this server does not run the feeds: nothing to show, ever
        el.hidden = true;
        return;
      }
      // network or server trouble: the connection badge says so; keep the last line, marked old
      for (const s of el.querySelectorAll<HTMLElement>(".feed")) s.dataset.old = "true";
    }
  };
  const loop = async () => {
    await refresh();
    if (!stopped) window.setTimeout(loop, EVERY_MS);
  };
  void loop();
}
