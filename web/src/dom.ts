// Tiny DOM helpers: no framework, no innerHTML with data (CSP and XSS safe).

type Attrs = Record<string, string | number | boolean | undefined>;

/** Creates an element with attributes and children (strings become text). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {},
  ...children: (Node | string | null | undefined)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === "class") el.className = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

/** Sets el's text only when it changed (cheap on hot paths). */
export function setText(el: Element, s: string): void {
  if (el.textContent !== s) el.textContent = s;
}

/**
 * Restarts a one-shot CSS flash animation ("up" or "down") on el. It
 * alternates between two identical animations (data-flash="up1"/"up2"):
 * changing the animation's name restarts it without forcing a layout, which
 * the usual remove-reflow-add trick does on every price change.
 */
export function flash(el: HTMLElement, direction: string): void {
  if (!direction) return;
  el.dataset.flash = direction + (el.dataset.flash === direction + "1" ? "2" : "1");
}
