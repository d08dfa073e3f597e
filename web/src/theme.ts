// Light and dark theme: the system's preference until the user picks one.

const KEY = "findash.theme";

/** The theme in effect. */
export function current(): "light" | "dark" {
  return document.documentElement.dataset.theme === "dark" ? "dark" : "light";
}

/** Applies the stored or system theme and wires the toggle button. */
export function setup(button: HTMLButtonElement): void {
  const media = matchMedia("(prefers-color-scheme: dark)");
  const stored = () => {
    try {
      return localStorage.getItem(KEY);
    } catch {
      return null;
    }
  };
  const apply = (t: string) => {
    document.documentElement.dataset.theme = t;
    button.setAttribute("aria-pressed", String(t === "dark"));
    button.title = t === "dark" ? "Switch to the light theme" : "Switch to the dark theme";
    window.dispatchEvent(new Event("themechange"));
  };
  apply(stored() ?? (media.matches ? "dark" : "light"));
  media.addEventListener("change", () => {
    if (!stored()) apply(media.matches ? "dark" : "light");
  });
  button.addEventListener("click", () => {
    const t = current() === "dark" ? "light" : "dark";
    try {
      localStorage.setItem(KEY, t);
    } catch {
      // private mode: the choice lasts for this page only
    }
    apply(t);
  });
}

/** A CSS custom property of the root, e.g. css("--up"). */
export function css(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
