// The market overview: every symbol live from the `quotes` channel with a
// 24 h sparkline, sortable, filterable by search and watchlist, with the top
// movers and the portfolio's totals.
import * as api from "./api";
import { flash, h, setText } from "./dom";
import * as fmt from "./format";
import * as portfolio from "./portfolio";
import * as spark from "./sparkline";
import type { Holding, Quote, ServerMessage } from "./types";
import { symbolPath, type Context } from "./context";
import { favourites, toggle, type Watchlist } from "./watchlist";

const SPARK_INTERVAL = "15m", SPARK_BARS = 96; // 24 h
const SPARK_MAX = 100; // symbols with a sparkline (the first of the table)
const SPARK_REFRESH_MS = 5 * 60_000;

type SortKey = "symbol" | "price" | "change_24h" | "change_pct_24h" | "high_24h" | "low_24h" | "volume_24h";

interface Row {
  tr: HTMLTableRowElement;
  price: HTMLElement;
  chg: HTMLElement;
  pct: HTMLElement;
  high: HTMLElement;
  low: HTMLElement;
  vol: HTMLElement;
  star: HTMLButtonElement;
  spark: SVGSVGElement;
}

const columns: { key: SortKey; label: string; cls: string }[] = [
  { key: "symbol", label: "Symbol", cls: "sym" },
  { key: "price", label: "Last", cls: "num" },
  { key: "change_24h", label: "24h chg", cls: "num" },
  { key: "change_pct_24h", label: "24h %", cls: "num" },
  { key: "high_24h", label: "24h high", cls: "num wide" },
  { key: "low_24h", label: "24h low", cls: "num wide" },
  { key: "volume_24h", label: "24h volume", cls: "num wide" },
];

const MOVERS = 5;
const ALL = "";

/** Mounts the overview into main; returns its disposer. */
export function mount(main: HTMLElement, ctx: Context): () => void {
  const quotes = new Map<string, Quote | null>();
  const rows = new Map<string, Row>();
  const dirty = new Set<string>();
  let sortKey: SortKey = "symbol";
  let sortAsc = true;
  let lists: Watchlist[] = [];
  let listID = ALL;
  let filter = "";
  let frame = 0;
  let orderDirty = true;
  let lastOrder = 0;
  const abort = new AbortController();

  const gainers = h("ol", { class: "movers-list", "aria-label": "Top gainers" });
  const losers = h("ol", { class: "movers-list", "aria-label": "Top losers" });
  const tbody = h("tbody");
  const headRow = h("tr");
  const listSelect = h("select", { id: "list", "aria-label": "Watchlist" });
  const newList = h("button", { type: "button", class: "btn" }, "New list");
  const delList = h("button", { type: "button", class: "btn" }, "Delete list");
  const empty = h("p", { class: "empty", hidden: true });
  const count = h("span", { class: "count", "aria-live": "polite" });

  for (const c of columns) {
    const btn = h("button", { type: "button", class: "sort" }, c.label);
    const th = h("th", { scope: "col", class: c.cls, "data-key": c.key }, btn);
    btn.addEventListener("click", () => {
      if (sortKey === c.key) sortAsc = !sortAsc;
      else {
        sortKey = c.key;
        sortAsc = c.key === "symbol";
      }
      updateSortHeaders();
      reorderNow();
    });
    headRow.append(th);
  }
  headRow.insertBefore(h("th", { scope: "col", class: "wide spark-col" }, "24h"), headRow.children[4]);
  headRow.append(h("th", { scope: "col", class: "star-col" }, h("span", { class: "sr-only" }, "Watch")));
  const pfBox = h("section", { class: "pf-summary card", "aria-label": "Portfolio", hidden: true });

  main.replaceChildren(
    h("h1", { class: "sr-only" }, "Market overview"),
    h("div", { class: "overview" },
    pfBox,
    h("section", { class: "movers", "aria-label": "Top movers (24 h)" },
      h("div", {}, h("h2", {}, "Top gainers"), gainers),
      h("div", {}, h("h2", {}, "Top losers"), losers)),
    h("section", { class: "markets", "aria-label": "All markets" },
      h("div", { class: "toolbar" }, h("h2", {}, "Markets"), listSelect, newList, delList, count),
      h("div", { class: "table-wrap" },
        h("table", { class: "quotes", id: "quotes" }, h("thead", {}, headRow), tbody)),
      empty)),
  );
  updateSortHeaders();

  function updateSortHeaders(): void {
    for (const th of headRow.querySelectorAll<HTMLElement>("th[data-key]")) {
      if (th.dataset.key === sortKey) th.setAttribute("aria-sort", sortAsc ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
  }

  function rowFor(sym: string): Row {
    let r = rows.get(sym);
    if (r) return r;
    const td = (cls: string) => h("td", { class: cls });
    const link = h("a", { href: symbolPath(sym) }, sym);
    const star = h("button", { type: "button", class: "star", "aria-pressed": "false", "aria-label": "Watch " + sym }, "☆");
    star.addEventListener("click", () => void toggleWatch(sym));
    r = {
      tr: h("tr", { "data-symbol": sym }),
      price: td("num price"), chg: td("num"), pct: td("num"),
      high: td("num wide"), low: td("num wide"), vol: td("num wide"), star,
      spark: spark.create(`${sym}, last 24 hours`),
    };
    r.tr.append(h("th", { scope: "row", class: "sym" }, link), r.price, r.chg, r.pct,
      h("td", { class: "wide spark-col" }, r.spark), r.high, r.low, r.vol,
      h("td", { class: "star-col" }, star));
    paintStar(sym, r);
    rows.set(sym, r);
    return r;
  }

  function apply(q: Quote, animate: boolean): void {
    const prev = quotes.get(q.symbol);
    if (prev && q.seq < prev.seq) return; // older than what is shown
    quotes.set(q.symbol, q);
    if (!prev) orderDirty = true;
    if (animate && prev && prev.price !== q.price) {
      const r = rowFor(q.symbol);
      flash(r.price, q.price > prev.price ? "up" : "down");
    }
    if (sortKey !== "symbol") orderDirty = true;
    dirty.add(q.symbol);
    schedule();
  }

  // a change the user asked for shows at once, not at the next reorder tick
  function reorderNow(): void {
    orderDirty = true;
    lastOrder = 0;
    schedule();
  }

  function schedule(): void {
    if (!frame) frame = requestAnimationFrame(render);
  }

  function render(): void {
    frame = 0;
    for (const sym of dirty) {
      const r = rowFor(sym);
      const q = quotes.get(sym);
      r.tr.dataset.price = q ? String(q.price) : "";
      setText(r.price, fmt.price(q?.price));
      setText(r.chg, fmt.change(q?.change_24h, q?.price));
      setText(r.pct, fmt.pct(q?.change_pct_24h));
      setText(r.high, fmt.price(q?.high_24h, q?.price));
      setText(r.low, fmt.price(q?.low_24h, q?.price));
      setText(r.vol, fmt.volume(q?.volume_24h));
      const d = fmt.dir(q?.change_24h);
      r.chg.className = "num " + d;
      r.pct.className = "num " + d;
    }
    dirty.clear();
    paintPortfolio();
    // reorder at most twice a second, and not under the keyboard user's feet
    const now = performance.now();
    if (orderDirty && (now - lastOrder > 500 || lastOrder === 0) && !tbody.contains(document.activeElement)) {
      orderDirty = false;
      lastOrder = now;
      reorder();
    } else if (orderDirty) {
      setTimeout(schedule, 500);
    }
    renderMovers();
  }

  function visible(sym: string): boolean {
    if (filter && !sym.toUpperCase().includes(filter)) return false;
    if (listID === ALL) return true;
    return lists.find((l) => l.id === listID)?.symbols.includes(sym) ?? false;
  }

  function reorder(): void {
    const syms = [...quotes.keys()].filter(visible);
    const key = sortKey, sign = sortAsc ? 1 : -1;
    syms.sort((a, b) => {
      if (key === "symbol") return sign * a.localeCompare(b);
      const qa = quotes.get(a), qb = quotes.get(b);
      const va = qa ? qa[key] : -Infinity, vb = qb ? qb[key] : -Infinity;
      return va === vb ? a.localeCompare(b) : sign * (va < vb ? -1 : 1);
    });
    const want = syms.map((s) => rowFor(s).tr);
    const have = Array.from(tbody.children);
    if (want.length !== have.length || want.some((tr, i) => tr !== have[i])) tbody.replaceChildren(...want);
    setText(count, `${syms.length} of ${quotes.size} symbols`);
    empty.hidden = syms.length > 0 || quotes.size === 0;
    setText(empty, listID !== ALL && !filter ? "This watchlist is empty: add symbols with ☆." : "No symbol matches.");
  }

  // the star shows whether the symbol is in the list it adds to (the one
  // selected, else the first); it is repainted at once, not at the next reorder
  function paintStar(sym: string, r: Row): void {
    const l = lists.find((x) => x.id === (listID || lists[0]?.id));
    const on = l?.symbols.includes(sym) ?? false;
    r.star.setAttribute("aria-pressed", String(on));
    r.star.setAttribute("aria-label", (on ? "Remove " + sym + " from " : "Add " + sym + " to ") + (l?.name ?? "Favourites"));
    r.star.title = r.star.getAttribute("aria-label")!;
    setText(r.star, on ? "★" : "☆");
  }

  function paintStars(): void {
    for (const [sym, r] of rows) paintStar(sym, r);
  }

  function renderMovers(): void {
    const qs = [...quotes.values()].filter((q): q is Quote => !!q);
    qs.sort((a, b) => b.change_pct_24h - a.change_pct_24h);
    const item = (q: Quote) => h("li", { class: fmt.dir(q.change_pct_24h) },
      h("a", { href: symbolPath(q.symbol) }, q.symbol),
      h("span", { class: "num" }, fmt.price(q.price)), h("span", { class: "num pct" }, fmt.pct(q.change_pct_24h)));
    const top = qs.slice(0, MOVERS).filter((q) => q.change_pct_24h > 0);
    const bottom = qs.slice(-MOVERS).reverse().filter((q) => q.change_pct_24h < 0);
    patchList(gainers, top.map(item), "No gainers yet");
    patchList(losers, bottom.map(item), "No losers yet");
  }

  // re-rendering the movers must not take the keyboard focus away: the
  // focused symbol's link gets the focus back in the new list
  function patchList(ol: HTMLOListElement, items: HTMLLIElement[], none: string): void {
    const sig = items.map((li) => li.textContent).join("|") || none;
    if (ol.dataset.sig === sig) return;
    ol.dataset.sig = sig;
    const focused = ol.contains(document.activeElement) ? (document.activeElement as HTMLAnchorElement).getAttribute("href") : null;
    ol.replaceChildren(...(items.length ? items : [h("li", { class: "none" }, none)]));
    if (focused) {
      // the symbol left the list: the first link of the list takes the focus
      const a = [...ol.querySelectorAll("a")].find((x) => x.getAttribute("href") === focused) ?? ol.querySelector("a");
      if (a) a.focus({ preventScroll: true });
    }
  }

  async function loadLists(): Promise<void> {
    lists = await ctx.watchlists.list();
    if (listID !== ALL && !lists.some((l) => l.id === listID)) listID = ALL;
    listSelect.replaceChildren(h("option", { value: ALL }, "All symbols"),
      ...lists.map((l) => h("option", { value: l.id }, `${l.name} (${l.symbols.length})`)));
    listSelect.value = listID;
    delList.disabled = listID === ALL;
    paintStars();
    reorderNow();
  }

  async function toggleWatch(sym: string): Promise<void> {
    const w = listID === ALL ? await favourites(ctx.watchlists) : lists.find((l) => l.id === listID);
    if (!w) return;
    await toggle(ctx.watchlists, w, sym);
    await loadLists();
  }

  listSelect.addEventListener("change", () => {
    listID = listSelect.value;
    delList.disabled = listID === ALL;
    paintStars();
    reorderNow();
  });
  newList.addEventListener("click", async () => {
    const name = prompt("Name of the new watchlist");
    if (!name) return;
    const w = await ctx.watchlists.save({ id: "", name, symbols: [] });
    listID = w.id;
    await loadLists();
  });
  delList.addEventListener("click", async () => {
    const w = lists.find((l) => l.id === listID);
    if (!w || !confirm(`Delete the watchlist “${w.name}”?`)) return;
    await ctx.watchlists.remove(w.id);
    listID = ALL;
    await loadLists();
  });

  const offFilter = ctx.onFilter((f) => {
    filter = f.trim().toUpperCase();
    reorderNow();
  });

  const onQuotes = (msg: ServerMessage) => {
    if (msg.type === "snapshot" || msg.type === "quotes") {
      const qs = (msg.data ?? []) as Quote[];
      for (const q of qs) apply(q, msg.type === "quotes");
      ctx.addSymbols(qs.map((q) => q.symbol));
    }
  };
  const offQuotes = ctx.stream.subscribe("quotes", onQuotes);
  const offLists = ctx.watchlists.onChange?.(() => void loadLists()) ?? (() => {});

  // sparklines: 24 h of 15m closes for the first symbols, a few requests at a time
  const sparks = new Map<string, number[]>();
  async function loadSparks(syms: string[]): Promise<void> {
    const queue = syms.slice(0, SPARK_MAX);
    const worker = async () => {
      for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
        try {
          let cs = await api.candles(s, SPARK_INTERVAL, SPARK_BARS, undefined, abort.signal);
          // a young market has few 15m bars: its last two hours of 1m bars say more
          if (cs.length < 8) cs = await api.candles(s, "1m", 120, undefined, abort.signal);
          sparks.set(s, cs.map((c) => c.close));
          spark.draw(rowFor(s).spark, sparks.get(s)!);
        } catch (e) {
          if ((e as Error).name === "AbortError") return;
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }
  const sparkTimer = window.setInterval(() => void loadSparks([...quotes.keys()].sort()), SPARK_REFRESH_MS);

  // the portfolio's totals, live
  let holdings: Holding[] = [];
  const pfText = h("p", { id: "overview-portfolio" });
  pfBox.append(h("h2", {}, h("a", { href: "/portfolio" }, "Portfolio")), pfText);
  const paintPortfolio = () => {
    pfBox.hidden = holdings.length === 0;
    if (!holdings.length) return;
    const v = portfolio.valuation(holdings, (s) => quotes.get(s)?.price);
    setText(pfText, `Value ${fmt.price(v.value, 1000)} · P&L ${fmt.change(v.pnl, 1000)} (${fmt.pct(v.pct)})`);
    pfText.className = fmt.dir(v.pnl);
    pfText.dataset.pnl = String(v.pnl);
  };
  const offAuth = ctx.auth.onChange(() => {
    portfolio.store(ctx).then((st) => st.list()).then((hs) => {
      holdings = hs;
      paintPortfolio();
    }).catch(() => {});
  });

  api.symbols(abort.signal).then((list) => {
    for (const { symbol, quote } of list) {
      if (quote) apply(quote, false);
      else if (!quotes.has(symbol)) {
        quotes.set(symbol, null);
        dirty.add(symbol);
        orderDirty = true;
      }
    }
    ctx.addSymbols(list.map((s) => s.symbol));
    schedule();
    void loadSparks(list.map((s) => s.symbol).sort());
  }).catch((e) => {
    if ((e as Error).name !== "AbortError") ctx.notify("Cannot load symbols: " + (e as Error).message);
  });
  void loadLists();

  return () => {
    abort.abort();
    offQuotes();
    offFilter();
    offLists();
    offAuth();
    clearInterval(sparkTimer);
    cancelAnimationFrame(frame);
  };
}
