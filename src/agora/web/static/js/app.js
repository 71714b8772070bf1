// The dashboard: sign in with a token (kept in sessionStorage), find out the role, then wire the
// REST snapshots and the two SSE streams to the panels.

import { Api } from "./api.js";
import { createAdmin, renderLedger } from "./admin.js";
import { createBlotter } from "./blotter.js";
import { createChart } from "./chart.js";
import { Dec } from "./decimal.js";
import { $, $$, debounce, setText } from "./dom.js";
import { clockTime, tickDigits, title } from "./format.js";
import { createPortfolio } from "./portfolio.js";
import { EventStream } from "./sse.js";
import { Store } from "./store.js";
import { createTicket } from "./ticket.js";
import { createWatchlist } from "./watchlist.js";

const TOKEN_KEY = "agora.token";
const ACCOUNT_REFRESH_MS = 15_000;
const CLOCK_REFRESH_MS = 60_000;

const store = new Store();
const streams = new Map(); // name → "live" | "connecting" | "down"

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (reason) sessionStorage.setItem("agora.signout", reason);
  location.reload();
}

function showStreams(name, state) {
  streams.set(name, state);
  const states = [...streams.values()];
  const live = states.every((s) => s === "live");
  const text = live ? "● Live" : states.includes("down") ? "○ Reconnecting…" : "○ Connecting…";
  setText($("#stream-status"), text, `pill ${live ? "live" : "warn"}`);
}

async function whoAmI(api) {
  const me = await api.get("/api/v1/me");
  if (me.role === "admin") return { role: "admin", ledger: await api.get("/api/v1/admin/ledger/verify") };
  return { role: "trader", account: await api.get("/api/v1/account") };
}

function showTradingState(account) {
  const state = account.platform_trading_state !== "active" ? account.platform_trading_state : account.trading_state;
  setText($("#trading-state"), `Trading ${title(state)}`, `pill state-${state}`);
}

async function loadClock(api) {
  try {
    const clock = await api.get("/api/v1/clock");
    const text = clock.is_open
      ? "Market open"
      : `Market closed${clock.next_open ? ` · opens ${clockTime(clock.next_open)}` : ""}`;
    setText($("#market-status"), text, `pill ${clock.is_open ? "live" : "warn"}`);
  } catch (error) {
    console.warn("clock", error.message);
  }
}

async function loadReferences(api) {
  const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString().replace(/\.\d+Z$/, "Z");
  for (const symbol of store.instruments.keys()) {
    try {
      const candles = await api.get(`/api/v1/candles/${symbol}?interval=1h&start=${since}&limit=24`);
      const open = Dec.parse(candles[0]?.open);
      if (open) {
        store.reference.set(symbol, open);
        store.emit("reference", symbol);
      }
    } catch (error) {
      console.warn("reference", symbol, error.message);
    }
  }
}

function startPrices(api, token) {
  const symbols = [...store.instruments.keys()].join(",");
  new EventStream(`/api/v1/stream/prices?symbols=${encodeURIComponent(symbols)}`, token, {
    onMessage: (message) => message.event === "price" && store.setQuote(JSON.parse(message.data)),
    onState: (state) => showStreams("prices", state),
    onUnauthorized: () => signOut("Your token is no longer valid."),
  }).start();
}

function startTrading(api, token) {
  const refreshAccount = debounce(async () => {
    try {
      const account = await api.get("/api/v1/account");
      store.setAccount(account);
      showTradingState(account);
    } catch (error) {
      console.warn("account", error.message);
    }
  }, 200);
  const refreshPositions = debounce(async () => {
    try {
      store.setPositions(await api.get("/api/v1/positions"));
    } catch (error) {
      console.warn("positions", error.message);
    }
  }, 150);
  const loadOrders = async () => {
    for (const order of await api.get("/api/v1/orders?status=all&limit=100")) store.upsertOrder(order);
    store.emit("orders-loaded");
  };
  new EventStream("/api/v1/stream/orders", token, {
    onMessage: (message) => {
      if (message.event !== "order") return;
      const data = JSON.parse(message.data);
      store.upsertOrder(data.order);
      if (data.fill) refreshPositions();
      refreshAccount();
    },
    onOpen: (resumed) => {
      if (!resumed) loadOrders().catch((error) => console.warn("orders", error.message));
    },
    onState: (state) => showStreams("orders", state),
    onUnauthorized: () => signOut("Your token is no longer valid."),
  }).start();
  refreshPositions();
  setInterval(refreshAccount, ACCOUNT_REFRESH_MS);
}

async function start(token) {
  const api = new Api(token, { onUnauthorized: () => signOut("Your token is no longer valid.") });
  const who = await whoAmI(api);
  sessionStorage.setItem(TOKEN_KEY, token);
  store.role = who.role;
  document.body.classList.add(`role-${who.role}`);
  for (const node of $$(".trader-only")) node.hidden = who.role !== "trader";
  for (const node of $$(".admin-only")) node.hidden = who.role !== "admin";
  $("#signin").hidden = true;
  $("#app").hidden = false;
  $("#signout").hidden = false;
  setText($("#who"), who.role === "admin" ? "Admin" : `Trader · ${who.account.account_id}`);

  createWatchlist(store);
  createChart(store, api);
  for (const instrument of await api.get("/api/v1/instruments")) {
    store.instruments.set(instrument.symbol, { ...instrument, digits: tickDigits(instrument.tick_size) });
  }
  if (who.role === "trader") {
    createTicket(store, api);
    createBlotter(store, api);
    createPortfolio(store);
    store.setAccount(who.account);
    showTradingState(who.account);
  }
  store.emit("instruments");
  store.select(store.instruments.keys().next().value);
  startPrices(api, token);
  if (who.role === "trader") startTrading(api, token);
  else {
    createAdmin(api);
    renderLedger(who.ledger);
  }
  loadClock(api);
  setInterval(() => loadClock(api), CLOCK_REFRESH_MS);
  loadReferences(api);
  document.body.dataset.ready = "true";
}

async function offerDemoToken() {
  if (document.querySelector('meta[name="agora-demo"]')?.content !== "on") return; // no demo here
  try {
    const response = await fetch("/api/v1/demo-token", { cache: "no-store" });
    if (!response.ok) return;
    const { token } = await response.json();
    if (token && !$("#token").value) {
      $("#token").value = token;
      $("#demo-hint").hidden = false;
    }
  } catch {
    // no demo here: the user pastes a token
  }
}

function showSignIn(message) {
  $("#signin").hidden = false;
  $("#app").hidden = true;
  setText($("#signin-error"), message || "");
  offerDemoToken();
  $("#signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("#token").value.trim();
    if (!token) return;
    $("#signin-submit").disabled = true;
    setText($("#signin-error"), "");
    try {
      await start(token);
    } catch (error) {
      setText($("#signin-error"), error.status === 401 ? "Unknown token: check it and try again." : error.message);
      $("#signin-submit").disabled = false;
    }
  });
  $("#token").focus();
}

function main() {
  $("#signout").addEventListener("click", () => signOut());
  const reason = sessionStorage.getItem("agora.signout");
  sessionStorage.removeItem("agora.signout");
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (!saved) {
    showSignIn(reason);
    return;
  }
  start(saved).catch((error) => {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(error.status === 401 ? "Your token is no longer valid." : error.message);
  });
}

main();
