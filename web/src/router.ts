// The router owns the pages: it maps a URL path to the page that shows it,
// mounts that page with the app's context and disposes of the previous one.
// Routes: "/" (market overview) and "/s/<SYMBOL>" (symbol page); the server
// answers index.html for both, so every URL survives a reload and can be
// shared. Pages get a Context and never import the router or the app.
import type { Context } from "./context";
import { h } from "./dom";
import * as overview from "./overview";
import * as symbolPage from "./symbol";

const SYMBOL_RE = /^[A-Z0-9._\/-]{1,32}$/;

/** Whether s has the shape of a symbol (the API's rule). */
export function isSymbol(s: string): boolean {
  return SYMBOL_RE.test(s);
}

/** A page of the app: renders into main and returns its disposer. */
type Mount = (main: HTMLElement, ctx: Context) => () => void;

/** What a path shows: the page's name (html[data-page]) and how to mount it. */
interface Route {
  page: "overview" | "symbol" | "notfound";
  mount: Mount;
}

/** The route of path (location.pathname). */
function route(path: string): Route {
  if (path === "/" || path === "/index.html") {
    return {
      page: "overview",
      mount: (main, ctx) => {
        document.title = "findash · markets";
        return overview.mount(main, ctx);
      },
    };
  }
  if (path.startsWith("/s/")) {
    let sym = "";
    try {
      sym = decodeURIComponent(path.slice(3)).toUpperCase();
    } catch {
      // malformed escape: not a symbol
    }
    if (isSymbol(sym)) return { page: "symbol", mount: (main, ctx) => symbolPage.mount(main, ctx, sym) };
    return notFound(`“${path.slice(3)}” is not a symbol.`);
  }
  return notFound("There is no page here.");
}

function notFound(msg: string): Route {
  return {
    page: "notfound",
    mount: (main) => {
      document.title = "Not found · findash";
      main.replaceChildren(h("h1", {}, "Not found"), h("p", {}, msg, " ", h("a", { href: "/" }, "Back to the markets.")));
      return () => {};
    },
  };
}

/**
 * Router shows the page of the current URL in main. Links inside the app and
 * the history's back and forward buttons change the page without a reload.
 */
export class Router {
  private dispose: (() => void) | null = null;
  private ctx: Context | null = null;

  constructor(private readonly main: HTMLElement) {}

  /** Shows the current URL's page with ctx and starts following links and history. */
  start(ctx: Context): void {
    this.ctx = ctx;
    document.addEventListener("click", (e) => this.onClick(e));
    window.addEventListener("popstate", () => this.render());
    this.render();
  }

  /** Goes to path within the app (pushes history), unless it is already shown. */
  navigate(path: string): void {
    if (path === location.pathname + location.search) return;
    history.pushState(null, "", path);
    this.render();
    this.main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }

  private render(): void {
    if (!this.ctx) return;
    this.dispose?.();
    this.dispose = null;
    const r = route(location.pathname);
    this.dispose = r.mount(this.main, this.ctx);
    document.documentElement.dataset.page = location.pathname.startsWith("/s/") ? "symbol" : "overview";
  }

  // links inside the app navigate without a reload
  private onClick(e: MouseEvent): void {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element).closest?.("a");
    if (!a || a.target || a.origin !== location.origin || a.hasAttribute("download")) return;
    if (a.pathname.startsWith("/api/") || a.pathname === "/ws") return;
    e.preventDefault();
    this.navigate(a.pathname + a.search);
  }
}
