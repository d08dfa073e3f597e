// The portfolio (/portfolio): holdings (symbol, quantity, average cost) with
// their live value and P&L from the `quotes` channel; the overview shows the
// totals too. Holdings are the account's (/api/v1/portfolio) when the server
// has that API and someone is signed in, else kept in this browser.
import * as api from "./api";
import { symbolPath, type Context } from "./context";
import { h, setText } from "./dom";
import * as fmt from "./format";
import type { Holding, Quote, ServerMessage } from "./types";
import { button, field, input, onSubmit, status } from "./ui";

const KEY = "findash.portfolio.v1";

/** Where the holdings are kept. */
export interface HoldingStore {
  /** "account" or "browser", for the page to say where. */
  where: string;
  list(): Promise<Holding[]>;
  save(h: Holding): Promise<void>;
  remove(symbol: string): Promise<void>;
}

class LocalHoldings implements HoldingStore {
  where = "browser";
  async list(): Promise<Holding[]> {
    try {
      const v = JSON.parse(localStorage.getItem(KEY) ?? "[]");
      return Array.isArray(v) ? v.filter((x) => x && typeof x.symbol === "string" && isFinite(x.quantity) && isFinite(x.cost_basis)) : [];
    } catch {
      return [];
    }
  }
  async save(x: Holding): Promise<void> {
    const ls = (await this.list()).filter((y) => y.symbol !== x.symbol);
    ls.push(x);
    ls.sort((a, b) => a.symbol.localeCompare(b.symbol));
    localStorage.setItem(KEY, JSON.stringify(ls));
  }
  async remove(symbol: string): Promise<void> {
    localStorage.setItem(KEY, JSON.stringify((await this.list()).filter((y) => y.symbol !== symbol)));
  }
}

class RemoteHoldings implements HoldingStore {
  where = "account";
  private ids = new Map<string, number>();
  async list(): Promise<Holding[]> {
    const hs = await api.holdings();
    this.ids = new Map(hs.filter((x) => x.id !== undefined).map((x) => [x.symbol, x.id!]));
    return hs.map((x) => ({ id: x.id, symbol: x.symbol, quantity: x.quantity, cost_basis: x.cost_basis }));
  }
  async save(x: Holding): Promise<void> {
    const id = this.ids.get(x.symbol);
    if (id !== undefined) await api.putHolding(id, x.quantity, x.cost_basis);
    else this.ids.set(x.symbol, (await api.addHolding(x.symbol, x.quantity, x.cost_basis)).id!);
  }
  async remove(symbol: string): Promise<void> {
    const id = this.ids.get(symbol);
    if (id !== undefined) await api.deleteHolding(id);
    this.ids.delete(symbol);
  }
}

/** The store for ctx's user: the account's when the server keeps portfolios. */
export async function store(ctx: Context): Promise<HoldingStore> {
  if (!ctx.auth.user) return new LocalHoldings();
  try {
    await api.holdings();
    return new RemoteHoldings();
  } catch (e) {
    if ((e as api.APIError).status === 404 || (e as api.APIError).status === 405) return new LocalHoldings();
    throw e;
  }
}

/** Value, cost and P&L of holdings at prices. */
export function valuation(hs: Holding[], price: (s: string) => number | undefined):
  { value: number; cost: number; pnl: number; pct: number; priced: boolean } {
  let value = 0, cost = 0, priced = true;
  for (const x of hs) {
    const p = price(x.symbol);
    if (p === undefined) priced = false;
    value += x.quantity * (p ?? x.cost_basis);
    cost += x.quantity * x.cost_basis;
  }
  const pnl = value - cost;
  return { value, cost, pnl, pct: cost ? (pnl / cost) * 100 : 0, priced };
}

/** Follows the live prices of every symbol; returns the lookup and the remover. */
export function livePrices(ctx: Context, onChange: () => void): { price: (s: string) => number | undefined; off: () => void } {
  const prices = new Map<string, number>();
  const off = ctx.stream.subscribe("quotes", (msg: ServerMessage) => {
    if (msg.type !== "quotes" && msg.type !== "snapshot") return;
    for (const q of (msg.data ?? []) as Quote[]) prices.set(q.symbol, q.price);
    onChange();
  });
  return { price: (s) => prices.get(s), off };
}

/** /portfolio */
export function mount(main: HTMLElement, ctx: Context): () => void {
  let holdings: Holding[] = [];
  let st: HoldingStore | null = null;
  let frame = 0;
  const tbody = h("tbody", { id: "holdings" });
  const totals = h("p", { class: "totals", id: "portfolio-totals", "aria-live": "off" });
  const where = h("p", { class: "muted" });
  const empty = h("p", { class: "empty", hidden: true }, "No holdings yet: add one above.");
  const sym = input({ type: "text", name: "symbol", required: true, list: "symbol-list", maxlength: 32, autocomplete: "off", spellcheck: "false" });
  const qty = input({ type: "number", name: "quantity", required: true, step: "any", min: 0 });
  const cost = input({ type: "number", name: "cost", required: true, step: "any", min: 0 });
  const fst = status();
  const form = h("form", { class: "inline-form", id: "holding-form" },
    field("Symbol", sym), field("Quantity", qty), field("Average cost", cost, "Per unit, in the quote currency."),
    h("button", { type: "submit", class: "btn primary" }, "Save holding"), fst.el);
  main.replaceChildren(
    h("h1", {}, "Portfolio"), totals, where,
    h("section", { class: "card", "aria-label": "Add or change a holding" }, h("h2", {}, "Add or change a holding"), form),
    h("div", { class: "table-wrap" }, h("table", { class: "holdings" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Symbol"),
        ...["Quantity", "Avg cost", "Last", "Value", "P&L", "P&L %"].map((t) => h("th", { scope: "col", class: "num" }, t)),
        h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
      tbody)),
    empty);

  const live = livePrices(ctx, () => {
    if (!frame) frame = requestAnimationFrame(render);
  });

  function render(): void {
    frame = 0;
    const v = valuation(holdings, live.price);
    setText(totals, holdings.length
      ? `Value ${fmt.price(v.value, 1000)} · P&L ${fmt.change(v.pnl, 1000)} (${fmt.pct(v.pct)})` : "");
    totals.className = "totals " + fmt.dir(v.pnl);
    totals.dataset.value = String(v.value);
    totals.dataset.pnl = String(v.pnl);
    for (const tr of tbody.children) {
      const x = holdings.find((y) => y.symbol === (tr as HTMLElement).dataset.symbol);
      if (!x) continue;
      const p = live.price(x.symbol);
      const cells = tr.querySelectorAll("td");
      const value = p === undefined ? undefined : x.quantity * p;
      const pnl = value === undefined ? undefined : value - x.quantity * x.cost_basis;
      setText(cells[2], fmt.price(p));
      setText(cells[3], fmt.price(value, 1000));
      setText(cells[4], fmt.change(pnl, 1000));
      setText(cells[5], fmt.pct(pnl === undefined || !x.cost_basis ? undefined : (pnl / (x.quantity * x.cost_basis)) * 100));
      cells[4].className = cells[5].className = "num " + fmt.dir(pnl);
      (tr as HTMLElement).dataset.pnl = pnl === undefined ? "" : String(pnl);
    }
  }

  function row(x: Holding): HTMLTableRowElement {
    const del = button("Remove", { "aria-label": "Remove " + x.symbol });
    del.addEventListener("click", async () => {
      await st?.remove(x.symbol).catch((e) => ctx.notify("Cannot remove it: " + (e as Error).message));
      await load();
    });
    const edit = button("Edit", { "aria-label": "Edit " + x.symbol });
    edit.addEventListener("click", () => {
      sym.value = x.symbol;
      qty.value = String(x.quantity);
      cost.value = String(x.cost_basis);
      qty.focus();
    });
    return h("tr", { "data-symbol": x.symbol },
      h("th", { scope: "row" }, h("a", { href: symbolPath(x.symbol) }, x.symbol)),
      h("td", { class: "num" }, fmt.size(x.quantity)), h("td", { class: "num" }, fmt.price(x.cost_basis)),
      h("td", { class: "num" }), h("td", { class: "num" }), h("td", { class: "num" }), h("td", { class: "num" }),
      h("td", { class: "actions" }, edit, del));
  }

  async function load(): Promise<void> {
    st ??= await store(ctx);
    setText(where, st.where === "account" ? "Stored in your account." : ctx.auth.user
      ? "Stored in this browser (this server keeps no portfolios)." : "Stored in this browser; sign in to keep it in your account.");
    holdings = await st.list();
    tbody.replaceChildren(...holdings.map(row));
    empty.hidden = holdings.length > 0;
    render();
  }

  onSubmit(form, fst, async () => {
    const x: Holding = { symbol: sym.value.trim().toUpperCase(), quantity: Number(qty.value), cost_basis: Number(cost.value) };
    if (!/^[A-Z0-9._\/-]{1,32}$/.test(x.symbol)) throw new Error("That is not a symbol.");
    st ??= await store(ctx);
    await st.save(x);
    form.reset();
    fst.ok(`${x.symbol} saved.`);
    await load();
  });

  const offAuth = ctx.auth.onChange(() => {
    st = null;
    void load().catch((e) => fst.error("Cannot load the holdings: " + (e as Error).message));
  });
  return () => {
    offAuth();
    live.off();
    cancelAnimationFrame(frame);
  };
}
