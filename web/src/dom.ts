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

/** Restarts a one-shot CSS flash animation ("up" or "down") on el. */
export function flash(el: Element, direction: string): void {
  if (!direction) return;
  el.classList.remove("flash-up", "flash-down");
  void (el as HTMLElement).offsetWidth; // restart the animation
  el.classList.add("flash-" + direction);
}
