// Positions and the account panel, revalued with every price: market value, unrealized P&L and
// equity are computed here from the server's quantities, average prices and cash, exactly.

import { Dec } from "./decimal.js";
import { $, el, setText } from "./dom.js";
import { amount, quantity, signed, tone } from "./format.js";

const CASH_DIGITS = 2;

function valuation(store, position) {
  const qty = Dec.parse(position.qty);
  const average = Dec.parse(position.avg_entry_price);
  const last = store.lastPrice(position.symbol) ?? Dec.parse(position.current_price);
  if (!qty || !average || !last) return null;
  const marketValue = qty.mul(last);
  const unrealized = last.sub(average).mul(qty);
  return { qty, average, last, marketValue, unrealized };
}

export function createPortfolio(store) {
  const body = $("#positions tbody");
  let scheduled = false;

  function renderPositions() {
    scheduled = false;
    const rows = [];
    for (const position of [...store.positions.values()].sort((a, b) => a.symbol.localeCompare(b.symbol))) {
      const digits = store.instruments.get(position.symbol)?.digits ?? 2;
      const value = valuation(store, position);
      const unrealized = value ? value.unrealized : Dec.parse(position.unrealized_pl);
      const pct = value && value.average.sign() ? value.last.sub(value.average).ratio(value.average) : 0;
      rows.push(el(
        "tr",
        { dataset: { symbol: position.symbol } },
        el("td", { class: "sym" }, position.symbol),
        el("td", { class: "num" }, quantity(position.qty)),
        el("td", { class: "num" }, amount(position.avg_entry_price, digits)),
        el("td", { class: "num" }, amount(value?.last ?? position.current_price, digits)),
        el("td", { class: "num" }, amount(value?.marketValue ?? position.market_value, CASH_DIGITS)),
        el("td", { class: `num ${tone(unrealized)}`, title: `${(pct * 100).toFixed(2)}%` }, signed(unrealized, CASH_DIGITS)),
        el("td", { class: `num ${tone(position.realized_pl)}` }, signed(position.realized_pl, CASH_DIGITS)),
        el("td", { class: "actions" }, el("button", {
          type: "button",
          class: "mini",
          "aria-label": `Close position ${position.symbol}: fill the ticket`,
          onclick: () => closePosition(position),
        }, "Close")),
      ));
    }
    body.replaceChildren(...rows);
    $("#positions-empty").hidden = rows.length > 0;
    renderAccount();
  }

  function closePosition(position) {
    const qty = Dec.parse(position.qty);
    if (!qty || !qty.sign()) return;
    const side = qty.sign() > 0 ? "sell" : "buy";
    store.emit("prefill", { symbol: position.symbol, side, qty: String(position.qty).replace(/^[-+]/, "") });
  }

  function renderAccount() {
    const account = store.account;
    if (!account) return;
    let marketValue = Dec.zero();
    let unrealized = Dec.zero();
    let complete = true;
    for (const position of store.positions.values()) {
      const value = valuation(store, position);
      if (!value) {
        complete = false;
        continue;
      }
      marketValue = marketValue.add(value.marketValue);
      unrealized = unrealized.add(value.unrealized);
    }
    const cash = Dec.parse(account.cash);
    const equity = complete && cash ? cash.add(marketValue) : Dec.parse(account.equity);
    setText($("#account-id"), account.account_id);
    setText($("#acct-equity"), amount(equity, CASH_DIGITS));
    setText($("#acct-cash"), amount(account.cash, CASH_DIGITS));
    setText($("#acct-held"), amount(account.cash_held, CASH_DIGITS));
    setText($("#acct-buying-power"), amount(account.buying_power, CASH_DIGITS));
    setText($("#acct-unrealized"), signed(unrealized, CASH_DIGITS), `num ${tone(unrealized)}`);
    setText($("#acct-realized"), signed(account.realized_pl, CASH_DIGITS), `num ${tone(account.realized_pl)}`);
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    setTimeout(renderPositions, 100); // at most ten revaluations a second
  }

  store.on("positions", schedule);
  store.on("account", schedule);
  store.on("quote", (quote) => store.positions.has(quote.symbol) && schedule());
}
