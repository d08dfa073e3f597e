// The candlestick + volume chart, on TradingView's Lightweight Charts™
// (Apache-2.0; its attribution logo stays on, and the notice is kept in the
// bundle). Loaded only by the symbol page, as its own chunk.
import {
  CandlestickSeries,
  ColorType,
  HistogramSeries,
  createChart,
  type IChartApi,
  type ISeriesApi,
  type UTCTimestamp,
} from "lightweight-charts";
import { css } from "./theme";
import type { Candle } from "./types";

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
  dispose(): void;
}

const sec = (ms: number) => Math.floor(ms / 1000) as UTCTimestamp;

/** Creates a chart filling el; showSeconds for the 1s interval. */
export function create(el: HTMLElement, showSeconds: boolean, digits: number): CandleChart {
  const chart: IChartApi = createChart(el, {
    autoSize: true,
    layout: { background: { type: ColorType.Solid, color: "transparent" }, attributionLogo: true },
    timeScale: { timeVisible: true, secondsVisible: showSeconds, rightOffset: 3 },
    rightPriceScale: { borderVisible: false },
    crosshair: { mode: 0 },
  });
  const priceFormat = { type: "price" as const, precision: digits, minMove: 10 ** -digits };
  const candles: ISeriesApi<"Candlestick"> = chart.addSeries(CandlestickSeries, { priceFormat });
  const volume: ISeriesApi<"Histogram"> = chart.addSeries(HistogramSeries, {
    priceFormat: { type: "volume" },
    priceScaleId: "",
    lastValueVisible: false,
    priceLineVisible: false,
  });
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  candles.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.25 } });

  let data: Candle[] = [];
  let needOlder: (() => void) | null = null;

  const theme = () => {
    const text = css("--muted"), grid = css("--grid");
    chart.applyOptions({
      layout: { textColor: text },
      grid: { vertLines: { color: grid }, horzLines: { color: grid } },
    });
    candles.applyOptions({
      upColor: css("--up"), downColor: css("--down"), borderVisible: false,
      wickUpColor: css("--up"), wickDownColor: css("--down"),
    });
    volume.setData(data.map(vol));
  };
  const vol = (c: Candle) => ({
    time: sec(c.start), value: c.volume,
    color: c.close >= c.open ? css("--up-soft") : css("--down-soft"),
  });
  const bar = (c: Candle) => ({ time: sec(c.start), open: c.open, high: c.high, low: c.low, close: c.close });
  const mark = () => {
    // what the browser tests read: the last bar and how many there are
    const last = data[data.length - 1];
    el.dataset.bars = String(data.length);
    el.dataset.lastStart = last ? String(last.start) : "";
    el.dataset.lastClose = last ? String(last.close) : "";
    el.dataset.lastVolume = last ? String(last.volume) : "";
  };

  theme();
  window.addEventListener("themechange", theme);
  chart.timeScale().subscribeVisibleLogicalRangeChange((r) => {
    if (r && r.from < 10 && needOlder) needOlder();
  });

  return {
    setData(cs) {
      data = cs.slice();
      candles.setData(data.map(bar));
      volume.setData(data.map(vol));
      mark();
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
        candles.setData(data.map(bar));
        volume.setData(data.map(vol));
        mark();
        return;
      }
      candles.update(bar(c));
      volume.update(vol(c));
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
    dispose() {
      window.removeEventListener("themechange", theme);
      chart.remove();
    },
  };
}
