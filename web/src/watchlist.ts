// Watchlists: named lists of symbols. They live in the browser until
// accounts exist; the views only see WatchlistStore, so a store backed by
// /api/v1/watchlists (docs/reference/http.md, same shape) can replace LocalWatchlists.

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
