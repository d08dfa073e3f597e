// The findash dashboard: a small single-page app. This module wires it: the
// shared WebSocket, the watchlists, the search box, the theme and the
// connection badge, handed to the pages as a Context; the router (router.ts)
// owns the pages and the URLs.
import "./style.css";
import { symbolPath, type Context } from "./context";
import { h } from "./dom";
import { isSymbol, Router } from "./router";
import { Stream, streamURL, type ConnState } from "./stream";
import * as theme from "./theme";
import { LocalWatchlists } from "./watchlist";

function main(): void {
  const mainEl = document.getElementById("main")!;
  const conn = document.getElementById("conn")!;
  const search = document.getElementById("search") as HTMLInputElement;
  const form = document.getElementById("search-form") as HTMLFormElement;
  const datalist = document.getElementById("symbol-list")!;
  const toasts = h("div", { class: "toasts", role: "log", "aria-live": "polite" });
  document.body.append(toasts);

  theme.setup(document.getElementById("theme") as HTMLButtonElement);

  const stream = new Stream(streamURL());
  const known = new Set<string>();
  const filters = new Set<(t: string) => void>();

  const labels: Record<ConnState, string> = {
    connecting: "connecting…", live: "live", reconnecting: "reconnecting…", offline: "offline",
  };
  stream.onState((s) => {
    conn.dataset.state = s;
    conn.textContent = labels[s];
    conn.title = s === "live" ? `Connected (${stream.reconnects} reconnects)` : "Retrying with backoff";
    document.documentElement.dataset.conn = s;
    document.documentElement.dataset.reconnects = String(stream.reconnects);
  });

  const router = new Router(mainEl);
  const ctx: Context = {
    stream,
    watchlists: new LocalWatchlists(),
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
    notify(text) {
      const t = h("div", { class: "toast" }, text);
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

  stream.start();
  router.start(ctx);
}

main();
