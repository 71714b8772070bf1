// The admin view: the trading state (kill switch), per-account risk limits, ledger verification.

import { $, $$, el, setText } from "./dom.js";
import { title } from "./format.js";

const INTEGER_FIELDS = ["max_order_qty", "price_collar_bps", "max_concentration_bps", "max_orders_per_second"];

export function renderLedger(report) {
  setText($("#ledger-summary"), report.ok ? "All ledger invariants hold." : "Some ledger invariants are broken.",
    `summary ${report.ok ? "ok" : "bad"}`);
  $("#ledger-checks tbody").replaceChildren(...report.checks.map((check) => el(
    "tr",
    {},
    el("td", {}, title(check.name)),
    el("td", { class: check.ok ? "up" : "down" }, check.ok ? "✓ ok" : "✗ broken"),
    el("td", { class: "muted" }, check.detail || ""),
  )));
}

async function showPlatformState() {
  try {
    const health = await (await fetch("/healthz", { cache: "no-store" })).json();
    setText($("#platform-state"), title(health.trading_state));
    setText($("#trading-state"), `Trading ${title(health.trading_state)}`, `pill state-${health.trading_state}`);
  } catch {
    setText($("#platform-state"), "unknown");
  }
}

function limitsBody(form) {
  const body = {};
  const value = (name) => form.elements[name].value.trim();
  if (value("max_order_notional")) body.max_order_notional = value("max_order_notional");
  for (const name of INTEGER_FIELDS) {
    if (!value(name)) continue;
    if (!/^\d+$/.test(value(name))) throw new Error(`${title(name)} must be a whole number`);
    body[name] = Number(value(name));
  }
  if (value("restricted_symbols")) {
    body.restricted_symbols = value("restricted_symbols").split(/[\s,]+/).filter(Boolean).map((s) => s.toUpperCase());
  }
  return body;
}

export function createAdmin(api) {
  for (const button of $$("button[data-state]")) {
    button.addEventListener("click", async () => {
      const state = button.dataset.state;
      const account = $("#state-account").value.trim();
      const body = account ? { state, account_id: account } : { state };
      try {
        const answer = await api.post("/api/v1/admin/trading-state", body);
        const scope = answer.account_id ? `account ${answer.account_id}` : "platform";
        setText($("#state-result"), `${scope}: ${title(answer.state)} · ${answer.canceled} open order(s) canceled`, "result ok");
        await showPlatformState();
      } catch (error) {
        setText($("#state-result"), `${error.code}: ${error.message}`, "result error");
      }
    });
  }

  const form = $("#limits");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setText($("#limits-error"), "");
    try {
      const account = form.elements.account.value.trim();
      const limits = await api.put(`/api/v1/admin/accounts/${encodeURIComponent(account)}/limits`, limitsBody(form));
      $("#limits-result").replaceChildren(...Object.entries(limits).map(([name, value]) => el(
        "div", {}, el("dt", {}, title(name)), el("dd", { class: "num" }, Array.isArray(value) ? value.join(", ") || "none" : String(value)),
      )));
    } catch (error) {
      setText($("#limits-error"), `${error.code || "invalid"}: ${error.message}`);
    }
  });

  $("#ledger-verify").addEventListener("click", async () => {
    setText($("#ledger-summary"), "Verifying…", "summary");
    try {
      renderLedger(await api.get("/api/v1/admin/ledger/verify"));
    } catch (error) {
      setText($("#ledger-summary"), `${error.code}: ${error.message}`, "summary bad");
    }
  });

  showPlatformState();
  setInterval(showPlatformState, 10_000);
}
