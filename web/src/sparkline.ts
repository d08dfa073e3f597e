// Sparklines: a small SVG line of recent closes (no chart library, so the
// overview's first load stays small).
const NS = "http://www.w3.org/2000/svg";

/** An empty sparkline element, filled by draw. */
export function create(label: string): SVGSVGElement {
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 100 24");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  return svg;
}

/** Draws values (oldest first) into svg, coloured by the first-to-last direction. */
export function draw(svg: SVGSVGElement, values: number[]): void {
  if (values.length < 2) {
    svg.replaceChildren();
    return;
  }
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi - lo || 1;
  const step = 100 / (values.length - 1);
  const pts = values.map((v, i) => `${(i * step).toFixed(2)},${(22 - ((v - lo) / span) * 20).toFixed(2)}`).join(" ");
  let line = svg.firstElementChild as SVGPolylineElement | null;
  if (!line) {
    line = document.createElementNS(NS, "polyline");
    line.setAttribute("fill", "none");
    line.setAttribute("stroke-width", "1.5");
    line.setAttribute("vector-effect", "non-scaling-stroke");
    svg.append(line);
  }
  line.setAttribute("points", pts);
  svg.dataset.dir = values[values.length - 1] >= values[0] ? "up" : "down";
  svg.dataset.points = String(values.length);
}
