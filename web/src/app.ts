// The findash dashboard: a small single-page app. Routes: "/" (market
// overview) and "/s/<SYMBOL>" (symbol page); the server answers index.html
// for both, so every URL survives a reload and can be shared.
import "./style.css";
import { h } from "./dom";
import * as overview from "./overview";
import { Stream, streamURL, type ConnState } from "./stream";
import * as symbolPage from "./symbol";
import * as theme from "./theme";
import { LocalWatchlists, type WatchlistStore } from "./watchlist";

/** What the views share. */
export interface Context {
  stream: Stream;
  watchlists: WatchlistStore;
  /** Navigates within the app (pushes history). */
  navigate(path: string): void;
  /** Adds symbols to the search suggestions. */
  addSymbols(syms: string[]): void;
  /** Calls fn with the search box's text as the user types; returns the remover. */
  onFilter(fn: (text: string) => void): () => void;
  /** Shows a short message to the user (and to screen readers). */
  notify(text: string): void;
}

const SYMBOL_RE = /^[A-Z0-9._\/-]{1,32}$/;

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

  const ctx: Context = {
    stream,
    watchlists: new LocalWatchlists(),
    navigate,
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

  let dispose: (() => void) | null = null;
  function render(): void {
    dispose?.();
    dispose = null;
    const path = location.pathname;
    if (path === "/" || path === "/index.html") {
      document.title = "findash · markets";
      dispose = overview.mount(mainEl, ctx);
    } else if (path.startsWith("/s/")) {
      let sym = "";
      try {
        sym = decodeURIComponent(path.slice(3)).toUpperCase();
      } catch {
        // malformed escape: not a symbol
      }
      if (SYMBOL_RE.test(sym)) dispose = symbolPage.mount(mainEl, ctx, sym);
      else notFound(`“${path.slice(3)}” is not a symbol.`);
    } else {
      notFound("There is no page here.");
    }
    document.documentElement.dataset.page = path.startsWith("/s/") ? "symbol" : "overview";
  }
  function notFound(msg: string): void {
    document.title = "Not found · findash";
    mainEl.replaceChildren(h("h1", {}, "Not found"), h("p", {}, msg, " ", h("a", { href: "/" }, "Back to the markets.")));
  }
  function navigate(path: string): void {
    if (path === location.pathname + location.search) return;
    history.pushState(null, "", path);
    render();
    mainEl.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }

  // links inside the app navigate without a reload
  document.addEventListener("click", (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element).closest?.("a");
    if (!a || a.target || a.origin !== location.origin || a.hasAttribute("download")) return;
    if (a.pathname.startsWith("/api/") || a.pathname === "/ws") return;
    e.preventDefault();
    navigate(a.pathname + a.search);
  });
  window.addEventListener("popstate", render);

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
    if (!SYMBOL_RE.test(sym)) {
      ctx.notify(`“${q}” is not a symbol.`);
      return;
    }
    search.value = "";
    for (const fn of filters) fn("");
    search.blur();
    navigate("/s/" + encodeURIComponent(sym));
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
  render();
}

main();
