// What a page gets from the app: the shared connection, the watchlists and
// the few app-wide actions, and the URLs of the other pages. Pages import
// this module, never the app or the router, so each page can be read and
// tested on its own.
import type { Auth } from "./session";
import type { Stream } from "./stream";
import type { AlertEvent } from "./types";
import type { WatchlistStore } from "./watchlist";

/** What the pages share. */
export interface Context {
  stream: Stream;
  watchlists: WatchlistStore;
  /** Who is signed in. */
  auth: Auth;
  /** Calls fn with every alert firing that arrives live; returns the remover. */
  onAlert(fn: (e: AlertEvent) => void): () => void;
  /** Navigates within the app (pushes history). */
  navigate(path: string): void;
  /** Adds symbols to the search suggestions. */
  addSymbols(syms: string[]): void;
  /** Calls fn with the search box's text as the user types; returns the remover. */
  onFilter(fn: (text: string) => void): () => void;
  /** Shows a short message to the user (and to screen readers). */
  notify(text: string, href?: string): void;
}

/** The path of symbol's page (the router parses it back). */
export function symbolPath(symbol: string): string {
  return "/s/" + encodeURIComponent(symbol);
}

/** The path of the sign-in page that comes back to next. */
export function signinPath(next = location.pathname + location.search): string {
  return "/signin?next=" + encodeURIComponent(next);
}
