// Watchlists: named lists of symbols. Signed out they live in the browser
// (LocalWatchlists); signed in they live on the server (/api/v1/watchlists,
// RemoteWatchlists), and the lists kept in the browser are merged into the
// account's at sign-in. The views see one SyncedWatchlists, which switches
// between the two and tells them when the lists change (also when another
// browser changed them: it polls while the page is visible).
import * as api from "./api";

/** A named list of symbols, as /api/v1/watchlists will return it. */
export interface Watchlist {
  id: string;
  name: string;
  symbols: string[];
}

/** Where watchlists are kept. */
export interface WatchlistStore {
  /** Every list, oldest first. */
  list(): Promise<Watchlist[]>;
  /** Creates (empty id) or replaces the list; returns it as stored. */
  save(w: Watchlist): Promise<Watchlist>;
  /** Deletes the list; deleting a missing list is not an error. */
  remove(id: string): Promise<void>;
  /** Calls fn whenever the lists may have changed; returns the remover. */
  onChange?(fn: () => void): () => void;
}

const KEY = "findash.watchlists.v1";

/** A WatchlistStore in localStorage (per browser, per origin). */
export class LocalWatchlists implements WatchlistStore {
  constructor(private readonly storage: Storage = localStorage) {}

  private read(): Watchlist[] {
    try {
      const v = JSON.parse(this.storage.getItem(KEY) ?? "[]");
      if (!Array.isArray(v)) return [];
      return v.filter((w) => w && typeof w.id === "string" && typeof w.name === "string" && Array.isArray(w.symbols));
    } catch {
      return [];
    }
  }

  private write(ls: Watchlist[]): void {
    try {
      this.storage.setItem(KEY, JSON.stringify(ls));
    } catch (e) {
      console.warn("findash: cannot store watchlists", e);
    }
  }

  async list(): Promise<Watchlist[]> {
    return this.read();
  }

  async save(w: Watchlist): Promise<Watchlist> {
    const ls = this.read();
    const saved = { id: w.id || newID(), name: w.name.trim() || "Watchlist", symbols: [...new Set(w.symbols)] };
    const i = ls.findIndex((x) => x.id === saved.id);
    if (i >= 0) ls[i] = saved;
    else ls.push(saved);
    this.write(ls);
    return saved;
  }

  async remove(id: string): Promise<void> {
    this.write(this.read().filter((w) => w.id !== id));
  }

  /** Forgets every list (after they were merged into the account's). */
  clear(): void {
    this.write([]);
  }
}

const wire = (w: { id: number | string; name: string; symbols: string[] }): Watchlist =>
  ({ id: String(w.id), name: w.name, symbols: w.symbols ?? [] });

/** A WatchlistStore on /api/v1/watchlists (the signed-in user's). */
export class RemoteWatchlists implements WatchlistStore {
  async list(): Promise<Watchlist[]> {
    return (await api.watchlists()).map(wire);
  }

  async save(w: Watchlist): Promise<Watchlist> {
    const name = w.name.trim() || "Watchlist", syms = [...new Set(w.symbols)];
    return wire(w.id ? await api.putWatchlist(w.id, name, syms) : await api.createWatchlist(name, syms));
  }

  async remove(id: string): Promise<void> {
    try {
      await api.deleteWatchlist(id);
    } catch (e) {
      if ((e as api.APIError).status !== 404) throw e;
    }
  }
}

/**
 * Merges the lists of from into to: a list of the same name (case aside)
 * gets the symbols it lacks, any other list is created. Returns how many
 * lists were written.
 */
export async function merge(from: Watchlist[], to: WatchlistStore): Promise<number> {
  const have = await to.list();
  let n = 0;
  for (const l of from) {
    const same = have.find((h) => h.name.trim().toLowerCase() === l.name.trim().toLowerCase());
    if (!same) {
      have.push(await to.save({ id: "", name: l.name, symbols: l.symbols }));
      n++;
      continue;
    }
    const add = l.symbols.filter((s) => !same.symbols.includes(s));
    if (add.length === 0) continue;
    Object.assign(same, await to.save({ ...same, symbols: [...same.symbols, ...add] }));
    n++;
  }
  return n;
}

/**
 * The store the views use: the browser's lists while signed out, the
 * account's while signed in. Changes by this page are announced at once;
 * changes by another browser within pollMs while the page is visible.
 */
export class SyncedWatchlists implements WatchlistStore {
  private store: WatchlistStore;
  private readonly listeners = new Set<() => void>();
  private timer = 0;
  private sig = "";

  constructor(private readonly local: LocalWatchlists, private readonly remote: WatchlistStore,
    private readonly pollMs = 3000) {
    this.store = local;
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") void this.poll();
    });
  }

  /** Whether the lists are the account's. */
  get signedIn(): boolean {
    return this.store === this.remote;
  }

  /** Switches to the account's lists (merging the browser's into them) or back. */
  async use(signedIn: boolean): Promise<void> {
    clearInterval(this.timer);
    if (signedIn) {
      const mine = await this.local.list();
      if (mine.length > 0) {
        await merge(mine, this.remote);
        this.local.clear();
      }
      this.store = this.remote;
      this.timer = window.setInterval(() => void this.poll(), this.pollMs);
    } else {
      this.store = this.local;
    }
    this.sig = "";
    this.emit();
  }

  async list(): Promise<Watchlist[]> {
    const ls = await this.store.list();
    this.sig = JSON.stringify(ls);
    return ls;
  }

  async save(w: Watchlist): Promise<Watchlist> {
    const r = await this.store.save(w);
    this.emit();
    return r;
  }

  async remove(id: string): Promise<void> {
    await this.store.remove(id);
    this.emit();
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of [...this.listeners]) fn();
  }

  // another browser's changes: announce when the lists differ from the last read
  private async poll(): Promise<void> {
    if (!this.signedIn || document.visibilityState !== "visible" || this.listeners.size === 0) return;
    try {
      const sig = JSON.stringify(await this.remote.list());
      if (sig !== this.sig) {
        this.sig = sig;
        this.emit();
      }
    } catch {
      // offline or signed out elsewhere: the next poll tries again
    }
  }
}

function newID(): string {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The list the star buttons add to: the first one, created on demand. */
export async function favourites(store: WatchlistStore): Promise<Watchlist> {
  const ls = await store.list();
  return ls[0] ?? store.save({ id: "", name: "Favourites", symbols: [] });
}

/** Adds symbol to w or removes it; returns the stored list. */
export async function toggle(store: WatchlistStore, w: Watchlist, symbol: string): Promise<Watchlist> {
  const has = w.symbols.includes(symbol);
  return store.save({ ...w, symbols: has ? w.symbols.filter((s) => s !== symbol) : [...w.symbols, symbol] });
}
