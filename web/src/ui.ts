// Pieces the account, alert, report and portfolio pages share: labelled
// form fields, an error line, the signed-in gate and dates.
import { signinPath, type Context } from "./context";
import { h } from "./dom";
import type { User } from "./types";

let seq = 0;

/** A label + control pair; the control gets an id if it has none. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLDivElement {
  if (!control.id) control.id = "f" + ++seq;
  const parts: Node[] = [h("label", { for: control.id }, label), control];
  if (hint) {
    const hid = control.id + "-hint";
    control.setAttribute("aria-describedby", hid);
    parts.push(h("small", { class: "muted", id: hid }, hint));
  }
  return h("div", { class: "field" }, ...parts);
}

/** An input with attributes. */
export function input(attrs: Record<string, string | number | boolean | undefined>): HTMLInputElement {
  return h("input", attrs);
}

/** A status line for a form: errors are announced (role=alert), successes politely. */
export function status(): { el: HTMLParagraphElement; error(msg: string): void; ok(msg: string): void; clear(): void } {
  const el = h("p", { class: "form-status", "aria-live": "polite" });
  return {
    el,
    error(msg) {
      el.className = "form-status error";
      el.setAttribute("role", "alert");
      el.textContent = msg;
    },
    ok(msg) {
      el.className = "form-status ok";
      el.removeAttribute("role");
      el.textContent = msg;
    },
    clear() {
      el.textContent = "";
    },
  };
}

/** A form whose submit runs fn with the submit button disabled; errors go to st. */
export function onSubmit(form: HTMLFormElement, st: ReturnType<typeof status>, fn: () => Promise<void>): void {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const btns = form.querySelectorAll<HTMLButtonElement>("button[type=submit]");
    btns.forEach((b) => (b.disabled = true));
    st.clear();
    try {
      await fn();
    } catch (err) {
      st.error((err as Error).message || "Something went wrong.");
    } finally {
      btns.forEach((b) => (b.disabled = false));
    }
  });
}

/**
 * Mounts page when someone is signed in, else a prompt to sign in; follows
 * sign-in and sign-out while shown. Returns the disposer.
 */
export function signedIn(main: HTMLElement, ctx: Context, title: string,
  page: (main: HTMLElement, user: User) => () => void): () => void {
  let dispose: (() => void) | null = null;
  const off = ctx.auth.onChange((u) => {
    dispose?.();
    dispose = null;
    if (u) {
      dispose = page(main, u);
      return;
    }
    main.replaceChildren(h("h1", {}, title),
      h("p", {}, h("a", { href: signinPath() }, "Sign in"), " or ", h("a", { href: "/signup" }, "create an account"),
        " to use this page."));
  });
  return () => {
    off();
    dispose?.();
  };
}

/** A date and time, local, e.g. 2026-12-04 14:05:09. */
export function dateTime(ms: number | null | undefined): string {
  if (!ms) return "—";
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A button. */
export function button(text: string, attrs: Record<string, string | number | boolean | undefined> = {}): HTMLButtonElement {
  return h("button", { type: "button", class: "btn", ...attrs }, text);
}
