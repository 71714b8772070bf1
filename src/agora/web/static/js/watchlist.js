// The watchlist: live bid / ask / last and the change since the reference price, per symbol.

import { Dec } from "./decimal.js";
import { $, el, flash, setText } from "./dom.js";
import { amount, percent, tone } from "./format.js";

export function createWatchlist(store) {
  const body = $("#watchlist tbody");
  const rows = new Map();

  function build() {
    body.replaceChildren();
    for (const instrument of store.instruments.values()) {
      const pick = el(
        "button",
        { type: "button", class: "symbol-pick", "aria-label": `Show ${instrument.symbol}, ${instrument.name}` },
        el("span", { class: "sym" }, instrument.symbol),
        el("span", { class: "name" }, instrument.name),
      );
      pick.addEventListener("click", () => store.select(instrument.symbol));
      const cells = {
        bid: el("td", { class: "num bid" }, "—"),
        ask: el("td", { class: "num ask" }, "—"),
        last: el("td", { class: "num last" }, "—"),
        change: el("td", { class: "num change" }, "—"),
      };
      const row = el("tr", { dataset: { symbol: instrument.symbol } }, el("th", { scope: "row" }, pick),
        cells.bid, cells.ask, cells.last, cells.change);
      rows.set(instrument.symbol, { row, cells });
      body.append(row);
    }
    mark(store.selected);
  }

  function mark(symbol) {
    for (const [name, { row }] of rows) {
      if (name === symbol) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    }
  }

  function render(quote) {
    const entry = rows.get(quote.symbol);
    if (!entry) return;
    const digits = store.instruments.get(quote.symbol)?.digits ?? 2;
    const { cells } = entry;
    setText(cells.bid, amount(quote.bid, digits));
    setText(cells.ask, amount(quote.ask, digits));
    setText(cells.last, amount(quote.last, digits));
    const last = Dec.parse(quote.last);
    const previous = Dec.parse(quote.previous);
    if (last && previous) flash(cells.last, tone(last.sub(previous)));
    const reference = store.reference.get(quote.symbol);
    if (last && reference) {
      const change = last.sub(reference).ratio(reference);
      setText(cells.change, percent(change), `num change ${tone(change)}`);
    }
  }

  store.on("instruments", build);
  store.on("quote", render);
  store.on("select", mark);
  store.on("reference", (symbol) => {
    const quote = store.quotes.get(symbol);
    if (quote) render(quote);
  });
}
