// Reports (/reports): the form (symbols, interval, date range, format), the
// caller's reports with their live status, and the download when done.
import * as api from "./api";
import type { Context } from "./context";
import { h } from "./dom";
import { INTERVALS, type Report } from "./types";
import { button, dateTime, field, input, onSubmit, signedIn, status } from "./ui";

const POLL_MS = 1000;

/** The value of a datetime-local input for ms (local time). */
function localInput(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** /reports */
export function mount(main: HTMLElement, ctx: Context): () => void {
  return signedIn(main, ctx, "Reports", (m) => page(m, ctx));
}

function page(main: HTMLElement, ctx: Context): () => void {
  const abort = new AbortController();
  let timer = 0;
  const preset = new URLSearchParams(location.search).get("symbols") ?? "";
  const syms = input({ type: "text", name: "symbols", required: true, value: preset || "BTC-USD", spellcheck: "false",
    autocomplete: "off" });
  const iv = h("select", { name: "interval" }, ...INTERVALS.map((i) => h("option", { value: i }, i)));
  iv.value = "1h";
  const now = Date.now();
  const from = input({ type: "datetime-local", name: "from", required: true, value: localInput(now - 86_400_000) });
  const to = input({ type: "datetime-local", name: "to", required: true, value: localInput(now + 60_000) });
  const fmtSel = h("select", { name: "format" }, h("option", { value: "csv" }, "CSV"), h("option", { value: "pdf" }, "PDF"));
  const st = status();
  const form = h("form", { class: "inline-form", id: "report-form" },
    field("Symbols", syms, "Up to 20, separated by commas."), field("Interval", iv), field("From", from), field("To", to),
    field("Format", fmtSel), h("button", { type: "submit", class: "btn primary" }, "Request report"), st.el);
  const tbody = h("tbody", { id: "reports" });
  const empty = h("p", { class: "empty", hidden: true }, "No reports yet.");
  main.replaceChildren(
    h("h1", {}, "Reports"),
    h("section", { class: "card", "aria-label": "New report" }, h("h2", {}, "New report"),
      h("p", { class: "muted" }, "Candles of the chosen symbols over a time range, as CSV or PDF."), form),
    h("div", { class: "table-wrap" }, h("table", { class: "reports" },
      h("thead", {}, h("tr", {}, ...["Requested", "Symbols", "Interval", "Range", "Format", "Status"].map((t) =>
        h("th", { scope: "col" }, t)), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Download")))),
      tbody)),
    empty);

  onSubmit(form, st, async () => {
    const list = syms.value.split(/[\s,]+/).map((s) => s.trim().toUpperCase()).filter(Boolean);
    const f = new Date(from.value).getTime(), t = new Date(to.value).getTime();
    if (!(f < t)) throw new Error("“From” must be before “To”.");
    const r = await api.createReport({ symbols: list, interval: iv.value, from: f, to: t, format: fmtSel.value as "csv" | "pdf" });
    st.ok(`Report ${r.id} requested; it appears below when it is ready.`);
    await load();
  });

  function row(r: Report): HTMLTableRowElement {
    let dl: Node = h("span", { class: "muted" }, "—");
    if (r.status === "done" && r.download_url) {
      const expired = r.download_expires_at !== undefined && r.download_expires_at < Date.now();
      dl = expired ? refresh(r) : h("a", { href: r.download_url, download: `findash-report-${r.id}.${r.format}`, class: "btn" },
        `Download ${r.format.toUpperCase()}`);
    }
    const stText = r.status === "failed" ? `failed: ${r.error ?? "unknown error"}` : r.status === "done" && r.size !== undefined
      ? `done (${Math.max(1, Math.round(r.size / 1024))} KB)` : r.status;
    return h("tr", { "data-report-id": String(r.id), "data-status": r.status },
      h("td", {}, dateTime(r.created_at)), h("td", {}, r.symbols.join(", ")), h("td", {}, r.interval),
      h("td", {}, `${dateTime(r.from)} – ${dateTime(r.to)}`), h("td", {}, r.format.toUpperCase()),
      h("td", { class: "status-" + r.status }, stText), h("td", {}, dl));
  }

  // a signed link lapses after 15 minutes: a fresh GET signs a new one
  function refresh(r: Report): HTMLButtonElement {
    const b = button("Get a new link", { "aria-label": `Get a new download link for report ${r.id}` });
    b.addEventListener("click", () => void load());
    return b;
  }

  async function load(): Promise<void> {
    clearTimeout(timer);
    try {
      const rs = await api.reports(abort.signal);
      tbody.replaceChildren(...rs.map(row));
      empty.hidden = rs.length > 0;
      if (rs.some((r) => r.status === "queued" || r.status === "running")) timer = window.setTimeout(() => void load(), POLL_MS);
    } catch (e) {
      if ((e as Error).name !== "AbortError") ctx.notify("Cannot load reports: " + (e as Error).message);
    }
  }
  void load();
  return () => {
    abort.abort();
    clearTimeout(timer);
  };
}
