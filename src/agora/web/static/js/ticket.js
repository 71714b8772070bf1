// The order ticket: builds the order body, shows the estimate, and the refusal's code, rule and
// message next to the ticket when the API denies it.

import { Dec } from "./decimal.js";
import { $, el, setText } from "./dom.js";
import { amount, quantity, title } from "./format.js";

const NEEDS = {
  market: { limit: false, stop: false },
  limit: { limit: true, stop: false },
  stop: { limit: false, stop: true },
  stop_limit: { limit: true, stop: true },
};

export function showDenial(error) {
  setText($("#denial-code"), error.code || "error");
  setText($("#denial-rule"), error.rule || "—");
  setText($("#denial-message"), error.message || "");
  $("#ticket-denial").hidden = false;
}

export function createTicket(store, api) {
  const form = $("#ticket");
  const symbol = $("#ticket-symbol");
  const type = $("#ticket-type");
  const limit = $("#ticket-limit");
  const stop = $("#ticket-stop");
  const qty = $("#ticket-qty");
  const submit = $("#ticket-submit");
  const result = $("#ticket-result");

  const side = () => form.elements.side.value;
  let tracked = null; // the last order sent: its progress is shown under the ticket

  function follow(order) {
    const digits = store.instruments.get(order.symbol)?.digits ?? 2;
    const fill = Number(order.filled_qty) > 0 ? ` ${quantity(order.filled_qty)} @ ${amount(order.filled_avg_price, digits)}` : "";
    result.replaceChildren(
      el("span", { class: "ok" }, "Accepted "),
      `${order.side} ${quantity(order.qty)} ${order.symbol} · `,
      el("strong", {}, title(order.status)),
      fill,
    );
  }

  function refresh() {
    const needs = NEEDS[type.value];
    limit.disabled = !needs.limit;
    stop.disabled = !needs.stop;
    limit.required = needs.limit;
    stop.required = needs.stop;
    const buying = side() === "buy";
    submit.textContent = `${buying ? "Buy" : "Sell"} ${quantity(qty.value || "0")} ${symbol.value}`;
    submit.className = `submit ${buying ? "buy" : "sell"}`;
    estimate();
  }

  function estimate() {
    const quote = store.quotes.get(symbol.value);
    const shares = Dec.parse(qty.value);
    let price = Dec.parse(side() === "buy" ? quote?.ask : quote?.bid);
    if (NEEDS[type.value].limit && Dec.parse(limit.value)) price = Dec.parse(limit.value);
    if (!shares || !price) {
      setText($("#ticket-estimate"), "");
      return;
    }
    const power = store.account ? ` · buying power ${amount(store.account.buying_power)}` : "";
    setText($("#ticket-estimate"), `≈ ${amount(shares.mul(price))} USD${power}`);
  }

  function body() {
    const order = {
      symbol: symbol.value,
      side: side(),
      qty: qty.value.trim(),
      type: type.value,
      time_in_force: $("#ticket-tif").value,
    };
    if (!limit.disabled) order.limit_price = limit.value.trim();
    if (!stop.disabled) order.stop_price = stop.value.trim();
    return order;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    $("#ticket-denial").hidden = true;
    result.replaceChildren();
    submit.disabled = true;
    try {
      const order = await api.post("/api/v1/orders", body());
      tracked = order.order_id;
      store.upsertOrder(order);
      follow(store.orders.get(order.order_id) ?? order);
    } catch (error) {
      showDenial(error);
    } finally {
      submit.disabled = false;
    }
  });

  for (const input of [type, qty, limit, symbol]) input.addEventListener("input", refresh);
  for (const radio of form.elements.side) radio.addEventListener("change", refresh);

  store.on("instruments", () => {
    symbol.replaceChildren(...[...store.instruments.values()].map((i) => el("option", { value: i.symbol }, i.symbol)));
    if (store.selected) symbol.value = store.selected;
    refresh();
  });
  store.on("select", (selected) => {
    symbol.value = selected;
    refresh();
  });
  symbol.addEventListener("change", () => store.select(symbol.value));
  store.on("prefill", (order) => { // from a position's Close button: the trader still confirms
    store.select(order.symbol);
    symbol.value = order.symbol;
    form.elements.side.value = order.side;
    qty.value = order.qty;
    type.value = "market";
    refresh();
    submit.focus();
  });
  store.on("quote", (quote) => quote.symbol === symbol.value && estimate());
  store.on("account", estimate);
  store.on("order", (order) => order.order_id === tracked && follow(order));
  refresh();
}
