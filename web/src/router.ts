// The router owns the pages: it maps a URL path to the page that shows it,
// mounts that page with the app's context and disposes of the previous one.
// Routes: "/" (market overview), "/s/<SYMBOL>" (symbol page), the account
// pages (/signin, /signup, /verify, /reset, /account), /alerts,
// /notifications, /reports and /portfolio; the server answers index.html for
// every one, so every URL survives a reload and can be shared. Pages get a
// Context and never import the router or the app.
import * as account from "./account";
import * as alertsPage from "./alerts";
import type { Context } from "./context";
import { h } from "./dom";
import * as overview from "./overview";
import * as portfolio from "./portfolio";
import * as reports from "./reports";
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
  page: string;
  mount: Mount;
}

/** Pages by exact path. */
const pages: Record<string, { title: string; mount: Mount }> = {
  "/signin": { title: "Sign in", mount: account.signin },
  "/signup": { title: "Sign up", mount: account.signup },
  "/verify": { title: "Verify your e-mail", mount: account.verify },
  "/reset": { title: "Reset your password", mount: account.reset },
  "/reset-password": { title: "Reset your password", mount: account.reset },
  "/account": { title: "Account", mount: account.account },
  "/alerts": { title: "Alerts", mount: alertsPage.list },
  "/notifications": { title: "Alert history", mount: alertsPage.history },
  "/reports": { title: "Reports", mount: reports.mount },
  "/portfolio": { title: "Portfolio", mount: portfolio.mount },
};

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
  const p = pages[path];
  if (p) {
    return {
      page: path.slice(1),
      mount: (main, ctx) => {
        document.title = p.title + " · findash";
        return p.mount(main, ctx);
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
    document.documentElement.dataset.page = r.page;
    this.dispose = r.mount(this.main, this.ctx);
    window.dispatchEvent(new Event("routechange"));
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
