// The connection badge and the stale banner (decisions 0035 and 0036). Prices
// on screen are stale — greyed through html[data-stale], with a banner — while
// the WebSocket is down (the banner after BANNER_AFTER_MS, so a drain's quick
// reconnect shows none; at once when the browser is offline), and while the
// server says its data is stale (`status` stale: its region has lost the
// link to the primary region; the connection is fine, the banner shows at
// once since the server has already waited --region-stale-after). Both end
// when the connection is live and the server has not said stale, or has
// said live again.
import * as fmt from "./format";
import type { ConnState, Stream } from "./stream";

/** How long the connection may be down before the banner says so (a drain's reconnect is quicker). */
const BANNER_AFTER_MS = 1500;

const labels: Record<ConnState, string> = {
  connecting: "connecting…", live: "live", reconnecting: "reconnecting…", offline: "offline",
};

/** Keeps conn (the badge), banner and html's data-* attributes in step with stream. */
export function setupConnStatus(stream: Stream, conn: HTMLElement, banner: HTMLElement): void {
  const root = document.documentElement;
  let bannerTimer = 0;
  const render = () => {
    const s = stream.state;
    const data = stream.data;
    root.dataset.conn = s;
    root.dataset.data = data.stale ? "stale" : "live"; // the server's word, for the tests
    root.dataset.reconnects = String(stream.reconnects);
    if (s === "live" && !data.stale) {
      conn.dataset.state = "live";
      conn.textContent = labels.live;
      conn.title = `Connected (${stream.reconnects} reconnects)`;
      delete root.dataset.stale;
      clearTimeout(bannerTimer);
      bannerTimer = 0;
      banner.hidden = true;
      return;
    }
    if (s === "live") {
      const since = data.since ? ` since ${fmt.time(data.since)}` : "";
      conn.dataset.state = "stale";
      conn.textContent = "stale";
      conn.title = `Connected, but this server has not heard from the market data${since}`;
      root.dataset.stale = "true";
      clearTimeout(bannerTimer);
      bannerTimer = 0;
      banner.textContent = `This server has lost its link to the market data${since}. ` +
        "Prices are the last known (greyed) and update again, with what was missed, when the link is back.";
      banner.hidden = false;
      return;
    }
    conn.dataset.state = s;
    conn.textContent = labels[s];
    conn.title = "Retrying every second or so";
    if (s === "connecting") return; // nothing shown yet, so nothing is stale
    root.dataset.stale = "true";
    banner.textContent = s === "offline"
      ? "You are offline. Prices are the last known (greyed) until the connection is back."
      : "Connection to the server lost; reconnecting. Prices are the last known (greyed).";
    if (s === "offline") banner.hidden = false;
    else if (banner.hidden && !bannerTimer) {
      bannerTimer = window.setTimeout(() => {
        bannerTimer = 0;
        if (stream.state !== "live") banner.hidden = false;
      }, BANNER_AFTER_MS);
    }
  };
  stream.onState((s) => {
    if (s === "live") root.dataset.liveAt = String(Date.now()); // when it was last (re)connected, for the tests
    render();
  });
  stream.onData(render);
}
