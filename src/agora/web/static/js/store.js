// The page's state and a tiny event hub: streams and REST answers go in, panels listen.

import { Dec } from "./decimal.js";

export const FINAL = new Set(["filled", "canceled", "replaced", "rejected", "expired"]);

export class Store {
  constructor() {
    this.listeners = new Map();
    this.instruments = new Map(); // symbol → {symbol, name, tick_size, lot_size, digits}
    this.quotes = new Map(); // symbol → {bid, ask, last, timestamp, previous}
    this.reference = new Map(); // symbol → Dec (the price "change" is measured from)
    this.orders = new Map(); // order_id → order
    this.positions = new Map(); // symbol → position
    this.account = null;
    this.selected = null;
    this.role = null;
  }

  on(name, listener) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(listener);
  }

  emit(name, detail) {
    for (const listener of this.listeners.get(name) ?? []) {
      try {
        listener(detail);
      } catch (error) {
        console.warn("listener failed", name, error); // one panel must not break the others
      }
    }
  }

  select(symbol) {
    if (!this.instruments.has(symbol) || symbol === this.selected) return;
    this.selected = symbol;
    this.emit("select", symbol);
  }

  setQuote(quote) {
    const previous = this.quotes.get(quote.symbol);
    const next = { ...quote, previous: previous?.last ?? null };
    this.quotes.set(quote.symbol, next);
    if (!this.reference.has(quote.symbol)) {
      const last = Dec.parse(quote.last);
      if (last) this.reference.set(quote.symbol, last);
    }
    this.emit("quote", next);
  }

  lastPrice(symbol) {
    return Dec.parse(this.quotes.get(symbol)?.last);
  }

  // Keep the newest view of an order: a late REST answer never overwrites a later stream event.
  upsertOrder(order) {
    const known = this.orders.get(order.order_id);
    if (known) {
      if (order.updated_at < known.updated_at) return false;
      if (FINAL.has(known.status) && !FINAL.has(order.status)) return false;
    }
    this.orders.set(order.order_id, { ...known, ...order });
    this.emit("order", this.orders.get(order.order_id));
    return true;
  }

  setPositions(list) {
    this.positions = new Map(list.map((position) => [position.symbol, position]));
    this.emit("positions", this.positions);
  }

  setAccount(account) {
    this.account = account;
    this.emit("account", account);
  }
}
