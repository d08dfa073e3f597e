// The symbol page (/s/<SYMBOL>?interval=1m): the chart (candles, line or
// area; volume pane; MA/EMA/VWAP; compare; ranges; fullscreen) with history
// from the API and the open candle live from `candles:SYM:IV`, the recent
// trades live from `ticks:SYM`, and the user's alerts on the symbol.
import { alertForm, rule } from "./alerts";
import * as api from "./api";
import { signinPath, type Context } from "./context";
import type { CandleChart, Overlay, Style } from "./chart";
import { flash, h, setText } from "./dom";
import * as fmt from "./format";
import { INTERVAL_MS, INTERVALS, type Alert, type Candle, type Interval, type Quote, type ServerMessage, type Tick } from "./types";
import { button } from "./ui";
import { favourites, toggle } from "./watchlist";

/** Range presets: label and span in ms (0: everything loaded). */
const RANGES: [string, number][] = [["1H", 3_600_000], ["6H", 21_600_000], ["1D", 86_400_000], ["1W", 604_800_000], ["All", 0]];
const STYLES: Style[] = ["candles", "line", "area"];
const OVERLAYS: [Overlay, string][] = [["ma", "MA 20"], ["ema", "EMA 20"], ["vwap", "VWAP"]];

const HISTORY = 500; // bars per history request
const MAX_TRADES = 200; // rows kept in the trades list

/** Mounts the page of symbol into main; returns its disposer. */
export function mount(main: HTMLElement, ctx: Context, symbol: string): () => void {
  const params = new URLSearchParams(location.search);
  let interval: Interval = (INTERVALS as readonly string[]).includes(params.get("interval") ?? "")
    ? (params.get("interval") as Interval) : "1m";
  let chart: CandleChart | null = null;
  let disposed = false;
  let offCandles: (() => void) | null = null;
  let loadSeq = 0; // which history load is current
  let olderDone = false;
  let loadingOlder = false;
  let lastTrade: number | undefined;
  let quote: Quote | null = null;

  const priceEl = h("span", { class: "big num", id: "last" }, "—");
  const chgEl = h("span", { class: "num" }, "");
  const hlEl = h("span", { class: "muted num" }, "");
  const star = h("button", { type: "button", class: "star", "aria-pressed": "false", "aria-label": "Watch " + symbol }, "☆");
  const ivGroup = h("div", { class: "intervals", role: "group", "aria-label": "Candle interval" });
  const chartEl = h("div", {
    // a region, not an img: it holds the attribution link, which stays focusable
    class: "chart", id: "chart", tabindex: 0, role: "region",
    "aria-label": `${symbol} candlestick chart. Arrow keys pan, + and − zoom, Home shows the latest.`,
  });
  const chartMsg = h("p", { class: "chart-msg", "aria-live": "polite" }, "Loading chart…");
  const zoomIn = h("button", { type: "button", class: "btn", "aria-label": "Zoom in" }, "+");
  const zoomOut = h("button", { type: "button", class: "btn", "aria-label": "Zoom out" }, "−");
  const latest = h("button", { type: "button", class: "btn" }, "Latest");
  const trades = h("tbody", { id: "trades" });
  const tradesNote = h("p", { class: "muted" }, "Waiting for trades…");
  let style: Style = (STYLES as string[]).includes(params.get("style") ?? "") ? params.get("style") as Style : "candles";
  const overlays = new Set<Overlay>();
  let compareSym = "";
  let offCompare: (() => void) | null = null;
  const styleGroup = h("div", { class: "intervals", role: "group", "aria-label": "Chart type" });
  const ovGroup = h("div", { class: "intervals", role: "group", "aria-label": "Indicators" });
  const rangeGroup = h("div", { class: "intervals", role: "group", "aria-label": "Time range" });
  const cmpInput = h("input", { type: "text", id: "compare", list: "symbol-list", placeholder: "e.g. ETH-USD", size: 10,
    autocomplete: "off", spellcheck: "false" });
  const cmpForm = h("form", { class: "compare", role: "search", "aria-label": "Compare with" },
    h("label", { for: "compare" }, "Compare"), cmpInput, h("button", { type: "submit", class: "btn" }, "Add"));
  const cmpClear = h("button", { type: "button", class: "btn", hidden: true }, "Clear compare");
  const full = h("button", { type: "button", class: "btn", "aria-pressed": "false" }, "Fullscreen");
  const alertsBox = h("section", { class: "card sym-alerts", "aria-labelledby": "sym-alerts-h" });

  for (const iv of INTERVALS) {
    const b = h("button", { type: "button", class: "btn", "data-interval": iv, "aria-pressed": String(iv === interval) }, iv);
    b.addEventListener("click", () => setInterval_(iv));
    ivGroup.append(b);
  }
  for (const st of STYLES) {
    const b = h("button", { type: "button", class: "btn", "data-style": st, "aria-pressed": String(st === style) }, st);
    b.addEventListener("click", () => {
      style = st;
      for (const x of styleGroup.children) x.setAttribute("aria-pressed", String((x as HTMLElement).dataset.style === st));
      chart?.setStyle(st);
    });
    styleGroup.append(b);
  }
  for (const [o, label] of OVERLAYS) {
    const b = h("button", { type: "button", class: "btn", "data-overlay": o, "aria-pressed": "false" }, label);
    b.addEventListener("click", () => {
      if (overlays.has(o)) overlays.delete(o);
      else overlays.add(o);
      b.setAttribute("aria-pressed", String(overlays.has(o)));
      chart?.setOverlays(overlays);
    });
    ovGroup.append(b);
  }
  for (const [label, span] of RANGES) {
    const b = h("button", { type: "button", class: "btn", "data-range": label }, label);
    b.addEventListener("click", () => {
      if (!chart) return;
      if (span === 0) chart.reset();
      else chart.showRange(Date.now() - span, Date.now());
    });
    rangeGroup.append(b);
  }

  main.replaceChildren(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "/" }, "← Markets")),
    h("div", { class: "sym-head" },
      h("h1", {}, symbol), star, priceEl, chgEl, hlEl),
    h("div", { class: "sym-body" },
      h("section", { class: "chart-box", "aria-label": "Chart" },
        h("div", { class: "toolbar" }, ivGroup, styleGroup, h("span", { class: "spacer" }), zoomIn, zoomOut, latest, full),
        h("div", { class: "toolbar" }, ovGroup, rangeGroup, cmpForm, cmpClear),
        chartEl, chartMsg, alertsBox),
      h("section", { class: "trades-box", "aria-label": "Recent trades" },
        h("h2", {}, "Recent trades"),
        h("div", { class: "table-wrap trades-wrap", tabindex: 0, role: "region", "aria-label": "Recent trades, scrollable" },
          h("table", { class: "trades" },
            h("thead", {}, h("tr", {},
              h("th", { scope: "col" }, "Time"), h("th", { scope: "col", class: "num" }, "Price"),
              h("th", { scope: "col", class: "num" }, "Size"), h("th", { scope: "col", class: "num wide" }, "Seq"))),
            trades)),
        tradesNote)),
  );
  document.title = symbol + " · findash";

  function showQuote(): void {
    if (!quote) return;
    setText(priceEl, fmt.price(quote.price));
    setText(chgEl, `${fmt.change(quote.change_24h, quote.price)} (${fmt.pct(quote.change_pct_24h)})`);
    chgEl.className = "num " + fmt.dir(quote.change_24h);
    setText(hlEl, `H ${fmt.price(quote.high_24h, quote.price)} · L ${fmt.price(quote.low_24h, quote.price)} · V ${fmt.volume(quote.volume_24h)}`);
    document.title = `${symbol} ${fmt.price(quote.price)} · findash`;
  }

  // --- trades -------------------------------------------------------------
  function addTrade(seq: number, t: Tick): void {
    tradesNote.hidden = true;
    const d = lastTrade === undefined ? "" : fmt.dir(t.price - lastTrade);
    lastTrade = t.price;
    const tr = h("tr", { "data-seq": String(seq), class: d },
      h("td", { class: "num" }, fmt.time(t.ts)), h("td", { class: "num price" }, fmt.price(t.price)),
      h("td", { class: "num" }, fmt.size(t.size)), h("td", { class: "num wide muted" }, String(seq)));
    trades.prepend(tr);
    while (trades.childElementCount > MAX_TRADES) trades.lastElementChild!.remove();
    if (quote) {
      const up = t.price - quote.price;
      quote = { ...quote, price: t.price, ts: t.ts, seq };
      flash(priceEl, fmt.dir(up));
      showQuote();
    }
  }

  function addGap(from: number, to: number): void {
    tradesNote.hidden = true;
    trades.prepend(h("tr", { class: "gap", "data-gap-from": String(from), "data-gap-to": String(to) },
      h("td", { colspan: 4 }, `⚠ Trades with seq ${from}–${to} could not be delivered.`)));
    ctx.notify(`Some trades of ${symbol} were missed (seq ${from}–${to}); the list has a gap there.`);
  }

  // an unknown symbol: its snapshot is null and it has no candles; say so
  // instead of waiting for trades that never come
  let snapshotSeen = false;
  function notFound(): void {
    document.documentElement.dataset.page = "notfound";
    document.title = "Not found · findash";
    main.replaceChildren(h("h1", {}, "Not found"),
      h("p", { id: "not-found" }, `There is no market “${symbol}”. `, h("a", { href: "/" }, "Back to the markets.")));
  }

  const offTicks = ctx.stream.subscribe("ticks:" + symbol, (msg: ServerMessage) => {
    if (msg.type === "snapshot") {
      snapshotSeen = true;
      if (!msg.data && historyLoaded && chart && chart.bars().length === 0) notFound();
      if (msg.data) {
        quote = msg.data as Quote;
        showQuote();
      }
    } else if (msg.type === "tick") addTrade(msg.seq, msg.data);
    else if (msg.type === "gap") addGap(msg.from, msg.to);
  });
  const offQuotes = ctx.stream.subscribe("quotes", (msg: ServerMessage) => {
    if (msg.type !== "quotes" && msg.type !== "snapshot") return;
    const q = (msg.data as Quote[] | null)?.find((x) => x.symbol === symbol);
    if (q && (!quote || q.seq >= quote.seq)) {
      quote = q;
      showQuote();
    }
  });

  // --- chart ----------------------------------------------------------------
  let pending: Candle[] = []; // live candles that came before the history
  let historyLoaded = false;

  async function loadHistory(): Promise<void> {
    const my = ++loadSeq;
    historyLoaded = false;
    olderDone = false;
    chartEl.dataset.interval = interval;
    chartEl.dataset.loaded = "false";
    try {
      const [mod, cs] = await Promise.all([import("./chart"), api.candles(symbol, interval, HISTORY)]);
      if (disposed || my !== loadSeq) return;
      if (cs.length === 0 && !quote && snapshotSeen) {
        notFound();
        return;
      }
      if (!chart) {
        chart = mod.create(chartEl, interval === "1s", fmt.priceDigits(cs[cs.length - 1]?.close ?? quote?.price ?? 1),
          INTERVAL_MS[interval]);
        chart.onNeedOlder(() => void loadOlder());
        chart.setStyle(style);
        chart.setOverlays(overlays);
      }
      chart.setData(cs);
      if (compareSym) void loadCompare(compareSym);
      for (const c of pending) chart.update(c);
      pending = [];
      historyLoaded = true;
      chartEl.dataset.loaded = "true";
      setText(chartMsg, cs.length ? "" : "No candles yet at this interval; the open one appears with the next trade.");
      chartMsg.hidden = cs.length > 0;
    } catch (e) {
      if (disposed || my !== loadSeq) return;
      chartMsg.hidden = false;
      setText(chartMsg, "Cannot load the chart: " + (e as Error).message);
      if ((e as api.APIError).status === 404) notFound();
    }
  }

  async function loadOlder(): Promise<void> {
    const oldest = chart?.oldest();
    if (!chart || olderDone || loadingOlder || oldest === undefined || !historyLoaded) return;
    loadingOlder = true;
    const my = loadSeq;
    try {
      const cs = await api.candles(symbol, interval, HISTORY, oldest - 1);
      if (disposed || my !== loadSeq || !chart) return;
      const older = cs.filter((c) => c.start < oldest);
      if (older.length === 0) {
        olderDone = true;
        return;
      }
      chart.setData([...older, ...chart.bars()]);
    } catch {
      // try again on the next scroll
    } finally {
      loadingOlder = false;
    }
  }

  function subscribeCandles(): void {
    offCandles?.();
    const channel = `candles:${symbol}:${interval}`;
    offCandles = ctx.stream.subscribe(channel, (msg: ServerMessage) => {
      if (msg.type !== "candle" && msg.type !== "snapshot") return;
      const c = msg.data as Candle | null;
      if (!c || c.interval !== interval) return;
      if (!historyLoaded || !chart) pending.push(c);
      else chart.update(c);
    });
  }

  // --- compare ----------------------------------------------------------------
  async function loadCompare(sym: string): Promise<void> {
    const my = loadSeq;
    try {
      const cs = await api.candles(sym, interval, HISTORY);
      if (disposed || my !== loadSeq || !chart || sym !== compareSym) return;
      if (cs.length === 0) {
        ctx.notify(`No candles for ${sym} at ${interval}.`);
        return;
      }
      chart.setCompare(sym, cs);
    } catch (e) {
      ctx.notify(`Cannot compare with ${sym}: ${(e as Error).message}`);
    }
  }
  function setCompare(sym: string): void {
    offCompare?.();
    offCompare = null;
    compareSym = sym;
    cmpClear.hidden = !sym;
    if (!sym) {
      chart?.setCompare(null, []);
      return;
    }
    offCompare = ctx.stream.subscribe(`candles:${sym}:${interval}`, (msg: ServerMessage) => {
      if (msg.type !== "candle") return;
      const c = msg.data as Candle | null;
      if (c && c.interval === interval && historyLoaded) chart?.updateCompare(c);
    });
    void loadCompare(sym);
  }
  cmpForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const sym = cmpInput.value.trim().toUpperCase();
    if (!/^[A-Z0-9._\/-]{1,32}$/.test(sym) || sym === symbol) {
      ctx.notify(`“${cmpInput.value}” cannot be compared.`);
      return;
    }
    setCompare(sym);
  });
  cmpClear.addEventListener("click", () => {
    cmpInput.value = "";
    setCompare("");
  });
  const box = chartEl.parentElement!;
  full.addEventListener("click", () => {
    if (document.fullscreenElement) void document.exitFullscreen();
    else void box.requestFullscreen?.().catch(() => ctx.notify("Fullscreen is not allowed here."));
  });
  const onFull = () => {
    const on = document.fullscreenElement === box;
    full.setAttribute("aria-pressed", String(on));
    box.classList.toggle("is-full", on);
  };
  document.addEventListener("fullscreenchange", onFull);

  function setInterval_(iv: Interval): void {
    if (iv === interval) return;
    interval = iv;
    for (const b of ivGroup.querySelectorAll<HTMLButtonElement>("button")) {
      b.setAttribute("aria-pressed", String(b.dataset.interval === iv));
    }
    const u = new URL(location.href);
    u.searchParams.set("interval", iv);
    history.replaceState(history.state, "", u);
    pending = [];
    chart?.dispose();
    chart = null;
    subscribeCandles();
    void loadHistory();
    if (compareSym) setCompare(compareSym);
  }

  zoomIn.addEventListener("click", () => chart?.zoom(0.7));
  zoomOut.addEventListener("click", () => chart?.zoom(1.4));
  latest.addEventListener("click", () => chart?.reset());
  chartEl.addEventListener("keydown", (e) => {
    const k = e.key;
    if (k === "ArrowLeft") chart?.pan(-5);
    else if (k === "ArrowRight") chart?.pan(5);
    else if (k === "+" || k === "=") chart?.zoom(0.7);
    else if (k === "-" || k === "_") chart?.zoom(1.4);
    else if (k === "Home" || k === "End") chart?.reset();
    else return;
    e.preventDefault();
  });

  // watch star: shows whether the symbol is in the first list
  const showStar = async () => {
    const w = (await ctx.watchlists.list())[0];
    const on = w?.symbols.includes(symbol) ?? false;
    star.setAttribute("aria-pressed", String(on));
    star.setAttribute("aria-label", (on ? `Remove ${symbol} from ` : `Add ${symbol} to `) + (w?.name ?? "Favourites"));
    star.title = star.getAttribute("aria-label")!;
    setText(star, on ? "★" : "☆");
  };
  star.addEventListener("click", async () => {
    await toggle(ctx.watchlists, await favourites(ctx.watchlists), symbol);
    await showStar();
  });
  void showStar();
  const offLists = ctx.watchlists.onChange?.(() => void showStar()) ?? (() => {});

  // the user's alerts on this symbol, and a form for a new one
  const alertList = h("ul", { class: "sym-alert-list", id: "symbol-alerts" });
  async function loadAlerts(): Promise<void> {
    if (!ctx.auth.user) return;
    try {
      const as = (await api.alerts()).filter((a: Alert) => a.symbol === symbol);
      alertList.replaceChildren(...as.map((a) => {
        const del = button("Delete", { "aria-label": `Delete alert ${rule(a)}` });
        del.addEventListener("click", async () => {
          await api.deleteAlert(a.id).catch((e) => ctx.notify("Cannot delete it: " + (e as Error).message));
          void loadAlerts();
        });
        return h("li", { "data-alert-id": String(a.id) }, `${rule(a)} · ${a.paused ? "paused" : a.armed ? "armed" : "fired"} `, del);
      }));
    } catch {
      // the list is a convenience; /alerts shows errors
    }
  }
  const offAuth = ctx.auth.onChange((u) => {
    if (!u) {
      alertsBox.replaceChildren(h("h2", { id: "sym-alerts-h" }, "Alerts"),
        h("p", {}, h("a", { href: signinPath() }, "Sign in"), ` to be told when ${symbol} crosses a price.`));
      return;
    }
    alertsBox.replaceChildren(h("h2", { id: "sym-alerts-h" }, `Alerts on ${symbol}`), alertList,
      alertForm(ctx, { symbol, onSaved: () => void loadAlerts() }), h("p", {}, h("a", { href: "/alerts" }, "All alerts →")));
    void loadAlerts();
  });
  const offAlert = ctx.onAlert((e) => {
    if (e.symbol === symbol) void loadAlerts();
  });

  // candles missed while disconnected cannot be replayed: reload them
  const offResume = ctx.stream.onResume(() => {
    pending = [];
    void loadHistory();
  });

  subscribeCandles();
  void loadHistory();

  return () => {
    disposed = true;
    offTicks();
    offQuotes();
    offCandles?.();
    offCompare?.();
    offResume();
    offLists();
    offAuth();
    offAlert();
    document.removeEventListener("fullscreenchange", onFull);
    chart?.dispose();
    document.title = "findash";
  };
}
