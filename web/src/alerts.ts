// Alerts: the form (also on the symbol page), the list page (/alerts) and
// the history of firings (/notifications), both following live firings.
import * as api from "./api";
import { symbolPath, type Context } from "./context";
import { h, setText } from "./dom";
import * as fmt from "./format";
import { CONDITIONS, type Alert, type AlertEvent, type AlertInput, type Condition } from "./types";
import { button, dateTime, field, input, onSubmit, signedIn, status } from "./ui";

const condLabel: Record<Condition, string> = {
  above: "Price rises above",
  below: "Price falls below",
  change_pct_above: "24h change rises above (%)",
  change_pct_below: "24h change falls below (%)",
};

/** An alert's rule in words. */
export function rule(a: { condition: string; threshold: number }): string {
  const l = condLabel[a.condition as Condition] ?? a.condition;
  return a.condition.startsWith("change_pct") ? `${l.replace(" (%)", "")} ${fmt.pct(a.threshold)}` : `${l} ${fmt.price(a.threshold)}`;
}

/**
 * The form that creates an alert (or replaces `edit`). With symbol fixed the
 * symbol field is hidden. onSaved runs after each save.
 */
export function alertForm(ctx: Context, opts: { symbol?: string; edit?: Alert; onSaved: (a: Alert) => void; onCancel?: () => void }): HTMLFormElement {
  const e = opts.edit;
  const sym = input({ type: "text", name: "symbol", required: true, maxlength: 32, list: "symbol-list", autocomplete: "off",
    value: e?.symbol ?? opts.symbol ?? "", spellcheck: "false" });
  const cond = h("select", { name: "condition" }, ...CONDITIONS.map((c) => h("option", { value: c }, condLabel[c])));
  cond.value = e?.condition ?? "above";
  const thr = input({ type: "number", name: "threshold", required: true, step: "any", value: e?.threshold ?? "" });
  const email = input({ type: "checkbox", name: "email", checked: e ? e.notify.includes("email") : false });
  const hook = input({ type: "checkbox", name: "webhook", checked: e ? e.notify.includes("webhook") : false });
  const url = input({ type: "url", name: "webhook_url", placeholder: "https://…", value: e?.webhook_url ?? "" });
  const cooldown = input({ type: "number", name: "cooldown", min: 0, step: 1, placeholder: "300", value: e?.cooldown_s ?? "" });
  const band = input({ type: "number", name: "hysteresis", min: 0, max: 50, step: "any", placeholder: "0.5", value: e?.hysteresis ?? "" });
  const st = status();
  const urlField = field("Webhook URL", url);
  urlField.hidden = !hook.checked;
  hook.addEventListener("change", () => {
    urlField.hidden = !hook.checked;
    url.required = hook.checked;
  });
  const cancel = opts.onCancel ? button("Cancel") : null;
  cancel?.addEventListener("click", () => opts.onCancel?.());
  const symField = field("Symbol", sym);
  symField.hidden = !!opts.symbol && !e;
  const form = h("form", { class: "alert-form inline-form", "aria-label": e ? "Edit alert" : "New alert" },
    symField, field("When", cond), field("Value", thr),
    h("fieldset", { class: "checks" }, h("legend", {}, "Also notify by"),
      h("label", {}, email, " e-mail"), h("label", {}, hook, " webhook")),
    urlField, field("Cooldown (s)", cooldown, "At most one firing in this time."),
    field("Re-arm band", band, "How far back (% of the price, or points of %) before it can fire again."),
    h("button", { type: "submit", class: "btn primary" }, e ? "Save" : "Create alert"), cancel, st.el);
  onSubmit(form, st, async () => {
    const a: AlertInput = {
      symbol: sym.value.trim().toUpperCase(),
      condition: cond.value as Condition,
      threshold: Number(thr.value),
      notify: [...(email.checked ? ["email"] : []), ...(hook.checked ? ["webhook"] : [])],
    };
    if (hook.checked) a.webhook_url = url.value.trim();
    if (cooldown.value !== "") a.cooldown_s = Number(cooldown.value);
    if (band.value !== "") a.hysteresis = Number(band.value);
    if (!isFinite(a.threshold)) throw new Error("The value must be a number.");
    const rules = a.cooldown_s !== undefined || a.hysteresis !== undefined;
    let saved: Alert;
    try {
      // editing: PATCH with the fields edits the alert in place and re-arms it
      saved = e ? await replace(e, a) : await api.createAlert(a);
    } catch (err) {
      // a server without per-alert re-arm rules refuses the fields: save without them
      if (!rules || (err as api.APIError).status !== 400) throw err;
      delete a.cooldown_s;
      delete a.hysteresis;
      saved = e ? await replace(e, a) : await api.createAlert(a);
      ctx.notify("This server has no per-alert re-arm rules; the alert uses its defaults.");
    }
    if (!e) {
      thr.value = "";
      st.ok(`Alert set: ${saved.symbol} ${rule(saved)}.`);
    }
    opts.onSaved(saved);
  });
  return form;
}

/**
 * Edits alert e: PATCH with the fields (edits in place and re-arms); a
 * server whose PATCH only pauses answers 400, and then the new alert is
 * created before the old one is deleted.
 */
async function replace(e: Alert, a: AlertInput): Promise<Alert> {
  try {
    return await api.patchAlert(e.id, { ...a });
  } catch (err) {
    if ((err as api.APIError).status !== 400 || a.cooldown_s !== undefined || a.hysteresis !== undefined) throw err;
    const saved = await api.createAlert(a);
    await api.deleteAlert(e.id);
    return saved;
  }
}

/** /alerts */
export function list(main: HTMLElement, ctx: Context): () => void {
  return signedIn(main, ctx, "Alerts", (m) => listPage(m, ctx));
}

function listPage(main: HTMLElement, ctx: Context): () => void {
  const abort = new AbortController();
  const tbody = h("tbody", { id: "alerts" });
  const empty = h("p", { class: "empty", hidden: true }, "No alerts yet: create one above, or from a symbol's page.");
  const editBox = h("div", { class: "card", id: "alert-edit", hidden: true });
  const form = alertForm(ctx, { onSaved: () => void load() });
  main.replaceChildren(
    h("h1", {}, "Alerts"),
    h("section", { class: "card", "aria-label": "New alert" }, h("h2", {}, "New alert"), form),
    editBox,
    h("div", { class: "table-wrap" }, h("table", { class: "alerts" },
      h("thead", {}, h("tr", {}, ...["Symbol", "Rule", "Notify", "State", "Created"].map((t) => h("th", { scope: "col" }, t)),
        h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
      tbody)),
    empty,
    h("p", {}, h("a", { href: "/notifications" }, "History of fired alerts →")));

  function row(a: Alert): HTMLTableRowElement {
    const state = a.paused ? "paused" : a.armed ? "armed" : "fired — re-arms when the price moves back";
    const pause = button(a.paused ? "Resume" : "Pause", { "aria-label": `${a.paused ? "Resume" : "Pause"} alert on ${a.symbol}` });
    pause.addEventListener("click", async () => {
      await api.patchAlert(a.id, { paused: !a.paused }).catch((e) => ctx.notify("Cannot change it: " + (e as Error).message));
      await load();
    });
    const edit = button("Edit", { "aria-label": `Edit alert on ${a.symbol}` });
    edit.addEventListener("click", () => {
      editBox.replaceChildren(h("h2", {}, `Edit alert on ${a.symbol}`), alertForm(ctx, {
        edit: a,
        onSaved: () => {
          editBox.hidden = true;
          void load();
        },
        onCancel: () => (editBox.hidden = true),
      }));
      editBox.hidden = false;
      editBox.querySelector<HTMLElement>("select, input:not([type=checkbox])")?.focus();
    });
    const del = button("Delete", { "aria-label": `Delete alert on ${a.symbol}` });
    del.addEventListener("click", async () => {
      if (!confirm(`Delete the alert “${a.symbol} ${rule(a)}”?`)) return;
      await api.deleteAlert(a.id).catch((e) => ctx.notify("Cannot delete it: " + (e as Error).message));
      await load();
    });
    return h("tr", { "data-alert-id": String(a.id), "data-armed": String(a.armed) },
      h("th", { scope: "row" }, h("a", { href: symbolPath(a.symbol) }, a.symbol)), h("td", {}, rule(a)),
      h("td", {}, a.notify.length ? a.notify.join(", ") : "page only"), h("td", {}, state), h("td", {}, dateTime(a.created_at)),
      h("td", { class: "actions" }, pause, edit, del));
  }

  async function load(): Promise<void> {
    try {
      const as = await api.alerts(abort.signal);
      as.sort((x, y) => y.created_at - x.created_at);
      tbody.replaceChildren(...as.map(row));
      empty.hidden = as.length > 0;
    } catch (e) {
      if ((e as Error).name !== "AbortError") ctx.notify("Cannot load alerts: " + (e as Error).message);
    }
  }

  const off = ctx.onAlert(() => void load());
  void load();
  return () => {
    abort.abort();
    off();
  };
}

/** /notifications */
export function history(main: HTMLElement, ctx: Context): () => void {
  return signedIn(main, ctx, "Alert history", (m) => historyPage(m, ctx));
}

function historyPage(main: HTMLElement, ctx: Context): () => void {
  const abort = new AbortController();
  const tbody = h("tbody", { id: "events" });
  const empty = h("p", { class: "empty" }, "Loading…");
  const seen = new Set<number>();
  main.replaceChildren(
    h("h1", {}, "Alert history"),
    h("p", { class: "muted" }, "Every firing of your alerts, newest first; new ones appear as they happen."),
    h("div", { class: "table-wrap" }, h("table", { class: "events" },
      h("thead", {}, h("tr", {}, ...["Time", "Symbol", "Rule", "Value", "Price", "Seq"].map((t, i) =>
        h("th", { scope: "col", class: i >= 3 ? "num" : "" }, t)))),
      tbody)),
    empty,
    h("p", {}, h("a", { href: "/alerts" }, "← Your alerts")));

  const row = (e: AlertEvent) => h("tr", { "data-event-id": String(e.id), "data-alert-id": String(e.alert_id) },
    h("td", {}, dateTime(e.ts)), h("th", { scope: "row" }, h("a", { href: symbolPath(e.symbol) }, e.symbol)),
    h("td", {}, rule(e)), h("td", { class: "num" }, e.condition.startsWith("change_pct") ? fmt.pct(e.value) : fmt.price(e.value)),
    h("td", { class: "num" }, fmt.price(e.price)), h("td", { class: "num muted" }, String(e.seq)));

  const add = (e: AlertEvent, top: boolean) => {
    if (seen.has(e.id)) return;
    seen.add(e.id);
    if (top) tbody.prepend(row(e));
    else tbody.append(row(e));
    empty.hidden = true;
  };

  const off = ctx.onAlert((e) => add(e, true));
  api.alertEvents(200, abort.signal).then((es) => {
    for (const e of es) add(e, false);
    setText(empty, "Nothing fired yet.");
    empty.hidden = seen.size > 0;
  }).catch((e) => {
    if ((e as Error).name !== "AbortError") setText(empty, "Cannot load the history: " + (e as Error).message);
  });
  return () => {
    abort.abort();
    off();
  };
}
