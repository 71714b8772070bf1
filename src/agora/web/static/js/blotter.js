// The orders blotter: open and recent orders, live from the order stream, with cancel and replace.

import { $, $$, el } from "./dom.js";
import { amount, clockTime, quantity, title } from "./format.js";
import { FINAL } from "./store.js";
import { showDenial } from "./ticket.js";

const RECENT = 100;
const TYPE_SHORT = { market: "MKT", limit: "LMT", stop: "STP", stop_limit: "STP LMT" };

function priceText(order, digits) {
  const parts = [];
  if (order.stop_price) parts.push(`stop ${amount(order.stop_price, digits)}`);
  if (order.limit_price) parts.push(amount(order.limit_price, digits));
  return parts.join(" / ") || "—";
}

export function createBlotter(store, api) {
  const body = $("#blotter tbody");
  let view = "open";
  let scheduled = false;

  function visible() {
    const all = [...store.orders.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    return view === "open" ? all.filter((order) => !FINAL.has(order.status)) : all.slice(0, RECENT);
  }

  function actions(order) {
    if (FINAL.has(order.status) || order.status === "pending_cancel") return el("td", { class: "actions" });
    const what = `${order.side} ${quantity(order.qty)} ${order.symbol}`;
    return el(
      "td",
      { class: "actions" },
      el("button", { type: "button", class: "mini", "aria-label": `Replace order ${what}`, onclick: () => openReplace(order) }, "Replace"),
      el("button", { type: "button", class: "mini danger", "aria-label": `Cancel order ${what}`, onclick: () => cancel(order) }, "Cancel"),
    );
  }

  function row(order) {
    const digits = store.instruments.get(order.symbol)?.digits ?? 2;
    const filled = Number(order.filled_qty) > 0
      ? `${quantity(order.filled_qty)} @ ${amount(order.filled_avg_price, digits)}`
      : "—";
    const status = el("span", { class: `status s-${order.status}` }, title(order.status));
    const reason = order.reject_reason
      ? el("span", { class: "reason" }, title(order.reject_reason) + (order.rule ? ` (${order.rule})` : ""))
      : null;
    return el(
      "tr",
      { dataset: { orderId: order.order_id, status: order.status } },
      el("td", { class: "muted" }, clockTime(order.created_at)),
      el("td", { class: "sym" }, order.symbol),
      el("td", { class: order.side === "buy" ? "up" : "down" }, order.side.toUpperCase()),
      el("td", { class: "num" }, quantity(order.qty)),
      el("td", {}, `${TYPE_SHORT[order.type] ?? order.type} ${order.time_in_force.toUpperCase()}`),
      el("td", { class: "num" }, priceText(order, digits)),
      el("td", { class: "num" }, filled),
      el("td", {}, status, reason),
      actions(order),
    );
  }

  function render() {
    scheduled = false;
    const orders = visible();
    body.replaceChildren(...orders.map(row));
    $("#blotter-empty").hidden = orders.length > 0;
    $("#blotter-empty").textContent = view === "open" ? "No open orders." : "No orders yet.";
    const open = [...store.orders.values()].filter((order) => !FINAL.has(order.status)).length;
    $("#open-count").textContent = String(open);
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    setTimeout(render, 30); // one render for a burst of events (rAF stops in hidden tabs)
  }

  async function cancel(order) {
    try {
      store.upsertOrder(await api.delete(`/api/v1/orders/${encodeURIComponent(order.order_id)}`));
    } catch (error) {
      showDenial(error);
    }
  }

  const dialog = $("#replace-dialog");
  let replacing = null;

  function openReplace(order) {
    replacing = order;
    $("#replace-what").textContent = `${order.side.toUpperCase()} ${quantity(order.qty)} ${order.symbol} · ${title(order.type)}`;
    $("#replace-qty").value = quantity(order.qty).replace(/,/g, "");
    $("#replace-limit").value = order.limit_price ?? "";
    $("#replace-stop").value = order.stop_price ?? "";
    $("#replace-limit").disabled = !order.limit_price;
    $("#replace-stop").disabled = !order.stop_price;
    $("#replace-error").textContent = "";
    dialog.showModal();
  }

  $("#replace-cancel").addEventListener("click", () => dialog.close());
  $("#replace-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const change = {};
    const qty = $("#replace-qty").value.trim();
    if (qty && qty !== quantity(replacing.qty).replace(/,/g, "")) change.qty = qty;
    for (const [id, field] of [["#replace-limit", "limit_price"], ["#replace-stop", "stop_price"]]) {
      const input = $(id);
      if (!input.disabled && input.value.trim() && input.value.trim() !== replacing[field]) change[field] = input.value.trim();
    }
    if (!Object.keys(change).length) {
      $("#replace-error").textContent = "Change the quantity or a price first.";
      return;
    }
    try {
      store.upsertOrder(await api.patch(`/api/v1/orders/${encodeURIComponent(replacing.order_id)}`, change));
      dialog.close();
    } catch (error) {
      $("#replace-error").textContent = `${error.code}${error.rule ? ` (${error.rule})` : ""}: ${error.message}`;
    }
  });

  for (const button of $$("[data-orders]")) {
    button.addEventListener("click", () => {
      view = button.dataset.orders;
      for (const other of $$("[data-orders]")) other.setAttribute("aria-pressed", String(other === button));
      render();
    });
  }

  store.on("order", schedule);
  store.on("orders-loaded", schedule);
  store.on("instruments", schedule);
}
