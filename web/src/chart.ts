// The price chart, on TradingView's Lightweight Charts™ (Apache-2.0; its
// attribution logo stays on, and the notice is kept in the bundle): candles,
// line or area; volume in its own pane; MA, EMA and VWAP overlays; a second
// symbol compared on a % scale. Loaded only by the symbol page, as its own
// chunk.
import {
  AreaSeries,
  CandlestickSeries,
  ColorType,
  HistogramSeries,
  LineSeries,
  PriceScaleMode,
  createChart,
  type IChartApi,
  type ISeriesApi,
  type SeriesType,
  type UTCTimestamp,
} from "lightweight-charts";
import { css } from "./theme";
import type { Candle } from "./types";

/** How the price is drawn. */
export type Style = "candles" | "line" | "area";
/** The indicators drawn over the price. */
export type Overlay = "ma" | "ema" | "vwap";

/** Periods of the moving averages (bars). */
export const MA_PERIOD = 20, EMA_PERIOD = 20;

/** A chart of one symbol at one interval. */
export interface CandleChart {
  /** Replaces every bar; candles oldest first. */
  setData(cs: Candle[]): void;
  /** Adds or updates the bar of c.start (the open candle, or a late change). */
  update(c: Candle): void;
  /** The bars shown, oldest first (do not modify). */
  bars(): readonly Candle[];
  /** The oldest bar's start (ms), or undefined when empty. */
  oldest(): number | undefined;
  /** Calls fn when the user scrolls near the oldest bar. */
  onNeedOlder(fn: () => void): void;
  /** Zooms by factor (< 1 in, > 1 out) or pans by bars (negative = back in time). */
  zoom(factor: number): void;
  pan(bars: number): void;
  /** Shows the latest bars again. */
  reset(): void;
  /** Shows the time range [from, to] (ms). */
  showRange(from: number, to: number): void;
  setStyle(s: Style): void;
  setOverlays(o: ReadonlySet<Overlay>): void;
  /** Compares with another symbol's candles on a % scale; null ends it. */
  setCompare(symbol: string | null, cs: Candle[]): void;
  /** Adds or updates a bar of the compared symbol. */
  updateCompare(c: Candle): void;
  dispose(): void;
}

const sec = (ms: number) => Math.floor(ms / 1000) as UTCTimestamp;
const DAY = 86_400_000;

/** Simple moving average of closes; null before period bars. */
export function sma(cs: readonly Candle[], period: number): (number | null)[] {
  const out: (number | null)[] = [];
  let sum = 0;
  for (let i = 0; i < cs.length; i++) {
    sum += cs[i].close;
    if (i >= period) sum -= cs[i - period].close;
    out.push(i >= period - 1 ? sum / period : null);
  }
  return out;
}

/** Exponential moving average of closes (seeded with the SMA of the first period bars). */
export function ema(cs: readonly Candle[], period: number): (number | null)[] {
  const out: (number | null)[] = [];
  const k = 2 / (period + 1);
  let prev: number | null = null, sum = 0;
  for (let i = 0; i < cs.length; i++) {
    if (prev === null) {
      sum += cs[i].close;
      if (i === period - 1) prev = sum / period;
      out.push(prev);
      continue;
    }
    prev = cs[i].close * k + prev * (1 - k);
    out.push(prev);
  }
  return out;
}

/** Volume-weighted average price of the typical price, restarting each UTC day when daily is set. */
export function vwap(cs: readonly Candle[], daily: boolean): (number | null)[] {
  const out: (number | null)[] = [];
  let pv = 0, v = 0, day = -1;
  for (const c of cs) {
    const d = Math.floor(c.start / DAY);
    if (daily && d !== day) {
      pv = 0;
      v = 0;
      day = d;
    }
    pv += ((c.high + c.low + c.close) / 3) * c.volume;
    v += c.volume;
    out.push(v > 0 ? pv / v : null);
  }
  return out;
}

/** Creates a chart filling el; showSeconds for the 1s interval; intervalMs the bar width. */
export function create(el: HTMLElement, showSeconds: boolean, digits: number, intervalMs = 60_000): CandleChart {
  const chart: IChartApi = createChart(el, {
    autoSize: true,
    layout: { background: { type: ColorType.Solid, color: "transparent" }, attributionLogo: true },
    timeScale: { timeVisible: true, secondsVisible: showSeconds, rightOffset: 3 },
    rightPriceScale: { borderVisible: false },
    crosshair: { mode: 0 },
  });
  const priceFormat = { type: "price" as const, precision: digits, minMove: 10 ** -digits };
  let style: Style = "candles";
  let main: ISeriesApi<SeriesType> = chart.addSeries(CandlestickSeries, { priceFormat });
  const volume: ISeriesApi<"Histogram"> = chart.addSeries(HistogramSeries, {
    priceFormat: { type: "volume" }, lastValueVisible: false, priceLineVisible: false,
  }, 1);
  chart.panes()[1]?.setStretchFactor(0.25);
  chart.panes()[0]?.setStretchFactor(1);
  const lines: Record<Overlay, ISeriesApi<"Line"> | null> = { ma: null, ema: null, vwap: null };
  let overlays: ReadonlySet<Overlay> = new Set();
  let compare: { symbol: string; series: ISeriesApi<"Line">; data: Candle[] } | null = null;

  let data: Candle[] = [];
  let needOlder: (() => void) | null = null;

  const overlayColor: Record<Overlay, string> = { ma: "#d59a00", ema: "#8e44ad", vwap: "#1f9bd1" };
  const vol = (c: Candle) => ({
    time: sec(c.start), value: c.volume,
    color: c.close >= c.open ? css("--up-soft") : css("--down-soft"),
  });
  const point = (c: Candle) => style === "candles"
    ? { time: sec(c.start), open: c.open, high: c.high, low: c.low, close: c.close }
    : { time: sec(c.start), value: c.close };

  const paintMain = () => {
    const up = css("--up"), down = css("--down"), accent = css("--accent");
    if (style === "candles") {
      main.applyOptions({ upColor: up, downColor: down, borderVisible: false, wickUpColor: up, wickDownColor: down });
    } else if (style === "line") {
      main.applyOptions({ color: accent, lineWidth: 2 });
    } else {
      main.applyOptions({ lineColor: accent, topColor: accent + "55", bottomColor: accent + "05", lineWidth: 2 });
    }
  };
  const theme = () => {
    const text = css("--muted"), grid = css("--grid");
    chart.applyOptions({ layout: { textColor: text }, grid: { vertLines: { color: grid }, horzLines: { color: grid } } });
    paintMain();
    volume.setData(data.map(vol));
  };
  const drawOverlays = () => {
    for (const o of ["ma", "ema", "vwap"] as Overlay[]) {
      const want = overlays.has(o);
      if (!want) {
        if (lines[o]) chart.removeSeries(lines[o]!);
        lines[o] = null;
        continue;
      }
      lines[o] ??= chart.addSeries(LineSeries, {
        color: overlayColor[o], lineWidth: 1, priceLineVisible: false, lastValueVisible: false,
        crosshairMarkerVisible: false, title: o === "ma" ? `MA ${MA_PERIOD}` : o === "ema" ? `EMA ${EMA_PERIOD}` : "VWAP",
      });
      const vs = o === "ma" ? sma(data, MA_PERIOD) : o === "ema" ? ema(data, EMA_PERIOD) : vwap(data, intervalMs < DAY);
      lines[o]!.setData(data.map((c, i) => vs[i] === null ? { time: sec(c.start) } : { time: sec(c.start), value: vs[i]! }));
    }
  };
  const mark = () => {
    // what the browser tests read: the last bar, how many there are, what is drawn
    const last = data[data.length - 1];
    el.dataset.bars = String(data.length);
    el.dataset.lastStart = last ? String(last.start) : "";
    el.dataset.lastClose = last ? String(last.close) : "";
    el.dataset.lastVolume = last ? String(last.volume) : "";
    el.dataset.style = style;
    el.dataset.overlays = [...overlays].sort().join(",");
    el.dataset.compare = compare?.symbol ?? "";
    el.dataset.compareBars = compare ? String(compare.data.length) : "";
    el.dataset.scale = compare ? "percent" : "price";
  };
  const redraw = () => {
    main.setData(data.map(point));
    volume.setData(data.map(vol));
    drawOverlays();
    mark();
  };

  theme();
  window.addEventListener("themechange", theme);
  chart.timeScale().subscribeVisibleLogicalRangeChange((r) => {
    if (r && r.from < 10 && needOlder) needOlder();
  });

  return {
    setData(cs) {
      data = cs.slice();
      redraw();
    },
    update(c) {
      const last = data[data.length - 1];
      if (!last || c.start > last.start) {
        data.push(c);
      } else if (c.start === last.start) {
        data[data.length - 1] = c;
      } else {
        // a late tick changed a closed bar: replace it in place
        const i = data.findIndex((d) => d.start === c.start);
        if (i < 0) return;
        data[i] = c;
        redraw();
        return;
      }
      main.update(point(c));
      volume.update(vol(c));
      if (overlays.size) drawOverlays();
      mark();
    },
    bars: () => data,
    oldest: () => data[0]?.start,
    onNeedOlder(fn) {
      needOlder = fn;
    },
    zoom(factor) {
      const ts = chart.timeScale();
      const r = ts.getVisibleLogicalRange();
      if (!r) return;
      const width = Math.max(5, (r.to - r.from) * factor);
      ts.setVisibleLogicalRange({ from: r.to - width, to: r.to });
    },
    pan(bars) {
      const ts = chart.timeScale();
      const r = ts.getVisibleLogicalRange();
      if (r) ts.setVisibleLogicalRange({ from: r.from + bars, to: r.to + bars });
    },
    reset() {
      chart.timeScale().resetTimeScale();
      chart.timeScale().scrollToRealTime();
    },
    showRange(from, to) {
      if (!data.length) return;
      const lo = Math.max(from, data[0].start);
      chart.timeScale().setVisibleRange({ from: sec(lo), to: sec(Math.max(to, lo + intervalMs)) });
      el.dataset.range = `${lo}-${to}`;
    },
    setStyle(s) {
      if (s === style) return;
      chart.removeSeries(main);
      style = s;
      main = s === "candles" ? chart.addSeries(CandlestickSeries, { priceFormat })
        : s === "line" ? chart.addSeries(LineSeries, { priceFormat }) : chart.addSeries(AreaSeries, { priceFormat });
      paintMain();
      redraw();
    },
    setOverlays(o) {
      overlays = new Set(o);
      drawOverlays();
      mark();
    },
    setCompare(symbol, cs) {
      if (compare) chart.removeSeries(compare.series);
      compare = null;
      if (symbol) {
        const series = chart.addSeries(LineSeries, { color: "#e67e22", lineWidth: 2, priceLineVisible: false, title: symbol });
        compare = { symbol, series, data: cs.slice() };
        series.setData(compare.data.map((c) => ({ time: sec(c.start), value: c.close })));
      }
      chart.priceScale("right").applyOptions({ mode: symbol ? PriceScaleMode.Percentage : PriceScaleMode.Normal });
      mark();
    },
    updateCompare(c) {
      if (!compare) return;
      const d = compare.data, last = d[d.length - 1];
      if (!last || c.start > last.start) d.push(c);
      else if (c.start === last.start) d[d.length - 1] = c;
      else return;
      compare.series.update({ time: sec(c.start), value: c.close });
      mark();
    },
    dispose() {
      window.removeEventListener("themechange", theme);
      chart.remove();
    },
  };
}
