// The candlestick chart of the selected symbol (1m / 5m / 1h) with volume, updated live.

import { Dec } from "./decimal.js";
import { $, $$, setText } from "./dom.js";
import { amount, percent, tone } from "./format.js";

const SECONDS = { "1m": 60, "5m": 300, "1h": 3600 };
const RELOAD_MS = 60_000;
const UP = "#26a69a";
const DOWN = "#ef5350";

const toSeconds = (iso) => Math.floor(new Date(iso).getTime() / 1000);

export function createChart(store, api) {
  const container = $("#chart");
  const charts = globalThis.LightweightCharts;
  const chart = charts.createChart(container, {
    autoSize: true,
    layout: {
      background: { type: "solid", color: "#131722" },
      textColor: "#9aa4b2",
      fontFamily: "Inter, system-ui, sans-serif",
      attributionLogo: false, // the page footer carries the attribution (see NOTICE.txt)
    },
    grid: { vertLines: { color: "#1c2230" }, horzLines: { color: "#1c2230" } },
    rightPriceScale: { borderColor: "#2a3140" },
    timeScale: { borderColor: "#2a3140", timeVisible: true, secondsVisible: false, rightOffset: 4, barSpacing: 10 },
    crosshair: { mode: 0 },
  });
  const candles = chart.addSeries(charts.CandlestickSeries, {
    upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN,
  });
  const volume = chart.addSeries(charts.HistogramSeries, {
    priceFormat: { type: "volume" }, priceScaleId: "volume", lastValueVisible: false, priceLineVisible: false,
  });
  chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });

  let interval = "1m";
  let lastBar = null;
  let loading = 0;

  async function load() {
    const symbol = store.selected;
    if (!symbol) return;
    const ticket = ++loading;
    const digits = store.instruments.get(symbol)?.digits ?? 2;
    candles.applyOptions({ priceFormat: { type: "price", precision: digits, minMove: 10 ** -digits } });
    let rows = [];
    try {
      rows = await api.get(`/api/v1/candles/${encodeURIComponent(symbol)}?interval=${interval}&limit=500`);
    } catch (error) {
      console.warn("candles", error.message);
    }
    if (ticket !== loading) return; // another symbol or interval was chosen meanwhile
    const bars = rows.map((row) => ({
      time: toSeconds(row.start), open: +row.open, high: +row.high, low: +row.low, close: +row.close,
    }));
    candles.setData(bars);
    volume.setData(rows.map((row) => ({
      time: toSeconds(row.start), value: +row.volume, color: +row.close >= +row.open ? "#26a69a55" : "#ef535055",
    })));
    lastBar = bars.length ? { ...bars[bars.length - 1] } : null;
    const quote = store.quotes.get(symbol);
    if (quote) tick(quote);
    chart.timeScale().scrollToRealTime();
    container.dataset.bars = String(bars.length);
    container.dataset.symbol = symbol;
    container.dataset.interval = interval;
  }

  function tick(quote) {
    const price = Number(quote.last);
    if (!Number.isFinite(price)) return;
    const span = SECONDS[interval];
    const time = Math.floor(toSeconds(quote.timestamp) / span) * span;
    if (lastBar && time < lastBar.time) return;
    if (!lastBar || time > lastBar.time) {
      lastBar = { time, open: lastBar ? lastBar.close : price, high: price, low: price, close: price };
      lastBar.high = Math.max(lastBar.open, price);
      lastBar.low = Math.min(lastBar.open, price);
    } else {
      lastBar = { ...lastBar, high: Math.max(lastBar.high, price), low: Math.min(lastBar.low, price), close: price };
    }
    candles.update(lastBar);
    container.dataset.updated = quote.timestamp;
  }

  function header(quote) {
    const symbol = store.selected;
    const instrument = store.instruments.get(symbol);
    setText($("#chart-symbol"), symbol ?? "—");
    setText($("#chart-name"), instrument?.name ?? "");
    if (!quote) return;
    const digits = instrument?.digits ?? 2;
    setText($("#chart-last"), amount(quote.last, digits));
    setText($("#chart-spread"), `Bid ${amount(quote.bid, digits)} · Ask ${amount(quote.ask, digits)}`);
    const last = Dec.parse(quote.last);
    const reference = store.reference.get(symbol);
    if (last && reference) {
      const move = last.sub(reference);
      const text = `${move.sign() > 0 ? "+" : ""}${amount(move, digits)} (${percent(move.ratio(reference))})`;
      setText($("#chart-change"), text, `num ${tone(move)}`);
    }
  }

  for (const button of $$("[data-interval]")) {
    button.addEventListener("click", () => {
      interval = button.dataset.interval;
      for (const other of $$("[data-interval]")) other.setAttribute("aria-pressed", String(other === button));
      load();
    });
  }

  store.on("select", () => {
    header(store.quotes.get(store.selected));
    load();
  });
  store.on("quote", (quote) => {
    if (quote.symbol !== store.selected) return;
    header(quote);
    tick(quote);
  });
  store.on("reference", (symbol) => symbol === store.selected && header(store.quotes.get(symbol)));
  setInterval(load, RELOAD_MS); // volume and finished bars as the server recorded them
}
