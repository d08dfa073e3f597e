// The findash dashboard: a small single-page app. This module wires it: the
// shared WebSocket, the signed-in user, the watchlists, the search box, the
// theme, the connection badge and banner and the live alert toasts, handed
// to the pages as a Context; the router (router.ts) owns the pages and the URLs.
import "./style.css";
import { symbolPath, type Context } from "./context";
import { h } from "./dom";
import { setupFeedLine } from "./feeds";
import * as fmt from "./format";
import { isSymbol, Router } from "./router";
import { Auth } from "./session";
import { setupConnStatus } from "./connstatus";
import { Stream, streamURL } from "./stream";
import * as theme from "./theme";
import type { AlertEvent, ServerMessage } from "./types";
import { LocalWatchlists, RemoteWatchlists, SyncedWatchlists } from "./watchlist";

function main(): void {
  const mainEl = document.getElementById("main")!;
  const conn = document.getElementById("conn")!;
  const search = document.getElementById("search") as HTMLInputElement;
  const form = document.getElementById("search-form") as HTMLFormElement;
  const datalist = document.getElementById("symbol-list")!;
  const toasts = h("div", { class: "toasts", role: "log", "aria-live": "polite" });
  document.body.append(toasts);

  theme.setup(document.getElementById("theme") as HTMLButtonElement);
  setupFeedLine(document.getElementById("feeds")!);

  const banner = document.getElementById("banner")!;
  const accountLink = document.getElementById("account-link") as HTMLAnchorElement;
  const stream = new Stream(streamURL());
  const auth = new Auth();
  const watchlists = new SyncedWatchlists(new LocalWatchlists(), new RemoteWatchlists());
  const known = new Set<string>();
  const filters = new Set<(t: string) => void>();
  const alertFns = new Set<(e: AlertEvent) => void>();

  setupConnStatus(stream, conn, banner);

  // live alert firings: a toast, and the pages that list them
  let started = false;
  let offAlerts: (() => void) | null = null;
  const onAlertMsg = (m: ServerMessage) => {
    if (m.type !== "alert") return;
    const e = m.data as AlertEvent;
    ctx.notify(`Alert: ${e.symbol} ${describe(e.condition, e.threshold)}: now ${fmt.price(e.price)}`, symbolPath(e.symbol));
    for (const fn of alertFns) fn(e);
  };

  auth.onChange((u) => {
    accountLink.textContent = u ? "Account" : "Sign in";
    accountLink.href = u ? "/account" : "/signin";
    document.documentElement.dataset.user = u ? "in" : "out";
    offAlerts?.();
    offAlerts = null;
    if (started) stream.restart(); // the new connection carries (or drops) the session cookie
    if (u) offAlerts = stream.subscribe("alerts", onAlertMsg);
    void watchlists.use(!!u).catch((e) => ctx.notify("Cannot load your watchlists: " + (e as Error).message));
  });

  const router = new Router(mainEl);
  const ctx: Context = {
    stream,
    watchlists,
    auth,
    onAlert(fn) {
      alertFns.add(fn);
      return () => alertFns.delete(fn);
    },
    navigate: (path) => router.navigate(path),
    addSymbols(syms) {
      let added = false;
      for (const s of syms) {
        if (known.has(s)) continue;
        known.add(s);
        added = true;
      }
      if (added) datalist.replaceChildren(...[...known].sort().map((s) => h("option", { value: s })));
    },
    onFilter(fn) {
      filters.add(fn);
      fn(search.value);
      return () => filters.delete(fn);
    },
    notify(text, href) {
      const t = h("div", { class: "toast" }, href ? h("a", { href }, text) : text);
      toasts.append(t);
      setTimeout(() => t.remove(), 6000);
      while (toasts.childElementCount > 3) toasts.firstElementChild!.remove();
    },
  };

  // search: typing filters the overview; Enter opens the symbol
  search.addEventListener("input", () => {
    for (const fn of filters) fn(search.value);
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = search.value.trim().toUpperCase();
    if (!q) return;
    const match = known.has(q) ? q : [...known].sort().find((s) => s.startsWith(q)) ?? [...known].sort().find((s) => s.includes(q));
    const sym = match ?? q;
    if (!isSymbol(sym)) {
      ctx.notify(`“${q}” is not a symbol.`);
      return;
    }
    search.value = "";
    for (const fn of filters) fn("");
    search.blur();
    router.navigate(symbolPath(sym));
  });
  document.addEventListener("keydown", (e) => {
    const t = e.target as HTMLElement;
    if (e.key === "/" && !/^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName) && !t.isContentEditable) {
      e.preventDefault();
      search.focus();
    } else if (e.key === "Escape" && t === search) {
      search.value = "";
      for (const fn of filters) fn("");
      search.blur();
    }
  });

  const setNav = () => {
    for (const a of document.querySelectorAll<HTMLAnchorElement>(".nav a")) {
      const on = a.pathname === location.pathname || (a.dataset.nav === "account" && /^\/(account|signin|signup)/.test(location.pathname));
      if (on) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  };
  window.addEventListener("routechange", setNav);

  // the first connection waits for GET /me (a few ms) so it is made once, with the right cookie
  void auth.load().then(() => {
    stream.start();
    started = true;
    router.start(ctx);
  });
}

/** An alert's condition in words, e.g. "crossed above 45,000.00". */
function describe(cond: string, threshold: number): string {
  switch (cond) {
    case "above": return "rose above " + fmt.price(threshold);
    case "below": return "fell below " + fmt.price(threshold);
    case "change_pct_above": return "24h change above " + fmt.pct(threshold);
    case "change_pct_below": return "24h change below " + fmt.pct(threshold);
  }
  return cond + " " + threshold;
}

main();
