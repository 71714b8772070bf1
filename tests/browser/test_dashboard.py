"""The dashboard in a real Chromium against a real ``agora serve``: what a trader and an admin do.

Every test's pages are checked by the ``open_page`` fixture for console errors, page errors,
failed requests and HTTP error answers the test did not provoke on purpose.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import OpenPage, Server, screenshot, sign_in

WIDE = (1280, 800)
NARROW = (390, 844)


def ticket(page: Page, symbol: str, qty: str, order_type: str = "market", **prices: str) -> None:
    """Pick ``symbol`` in the watchlist and fill the ticket (side buy)."""
    page.locator(f"#watchlist tr[data-symbol='{symbol}'] .symbol-pick").click()
    expect(page.get_by_label("Symbol", exact=True)).to_have_value(symbol)
    page.get_by_label("Buy", exact=True).check(force=True)
    page.locator("#ticket-qty").fill(qty)
    page.get_by_label("Order type").select_option(order_type)
    if "limit_price" in prices:
        page.get_by_label("Limit price").first.fill(prices["limit_price"])
    if "time_in_force" in prices:
        page.get_by_label("Time in force").select_option(prices["time_in_force"])


def blotter_rows(page: Page, symbol: str) -> Locator:
    """The blotter's rows of ``symbol`` in the view shown."""
    return page.locator("#blotter tbody tr").filter(has=page.locator("td.sym", has_text=symbol))


def test_sign_in_see_prices_move_and_chart(server: Server, open_page: OpenPage) -> None:
    watched = open_page(*WIDE)
    page = watched.page
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Sign in to Agora")).to_be_visible()
    token = page.get_by_label("API token")
    offered = page.locator('meta[name="agora-demo"]').get_attribute("content") == "on"
    if offered:  # `agora serve` offers the demo token to local pages: it is filled in
        expect(token).to_have_value(server.token("demo"))
        expect(page.locator("#demo-hint")).to_be_visible()
    else:
        expect(token).to_have_value("")
    token.fill(server.token("demo"))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("body[data-ready='true']")

    expect(page.locator("#watchlist tbody tr")).to_have_count(20)
    expect(page.locator("#stream-status")).to_have_text(re.compile("Live"))
    expect(page.locator("#who")).to_have_text("Trader · acc_demo")
    expect(page.locator("#acct-equity")).to_have_text(re.compile(r"^\d{1,3}(,\d{3})*\.\d\d$"))
    last_cells = page.locator("#watchlist td.last")
    expect(last_cells.first).not_to_have_text("—")
    before = last_cells.all_text_contents()
    page.wait_for_function(
        "before => [...document.querySelectorAll('#watchlist td.last')]"
        ".some((cell, i) => cell.textContent !== before[i])",
        arg=before,
        timeout=10_000,
    )

    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-symbol", "AAPL")
    expect(chart.locator("canvas").first).to_be_visible()
    assert int(chart.get_attribute("data-bars") or "0") >= 1
    updated = chart.get_attribute("data-updated")
    page.wait_for_function(
        "before => document.querySelector('#chart').dataset.updated !== before", arg=updated
    )
    page.get_by_role("button", name="5m").click()
    expect(chart).to_have_attribute("data-interval", "5m")
    page.get_by_role("button", name="1m").click()
    expect(chart).to_have_attribute("data-interval", "1m")
    expect(page.get_by_role("link", name="TradingView Lightweight Charts™")).to_be_visible()
    expect(page.locator("#market-status")).to_have_text("Market open")
    screenshot(page, "dashboard-1280x800.png")

    page.reload()  # the token is kept for the session
    page.wait_for_selector("body[data-ready='true']")
    expect(page.locator("#signin")).to_be_hidden()


def test_market_buy_fills_and_the_position_appears(server: Server, open_page: OpenPage) -> None:
    page = sign_in(open_page(*WIDE), server, server.token("demo"))
    ticket(page, "MSFT", "5")
    page.get_by_role("button", name="Buy 5 MSFT").click()
    expect(page.locator("#ticket-result")).to_contain_text("Accepted")
    expect(page.locator("#ticket-denial")).to_be_hidden()

    page.get_by_role("button", name=re.compile("^Recent")).click()
    row = blotter_rows(page, "MSFT").first
    expect(row).to_have_attribute("data-status", "filled")
    expect(row).to_contain_text(re.compile(r"5 @ \d+\.\d\d"))
    position = page.locator("#positions tbody tr[data-symbol='MSFT']")
    expect(position).to_be_visible()
    expect(position.locator("td").nth(1)).to_have_text("5")
    expect(position.locator("td").nth(4)).to_have_text(re.compile(r"^\d{1,3}(,\d{3})*\.\d\d$"))
    expect(page.locator("#acct-cash")).not_to_have_text("100,000.00")
    expect(page.locator("#acct-held")).to_have_text("0.00")
    screenshot(page, "dashboard-after-fill-1280x800.png")

    position.get_by_role("button", name="Close position MSFT: fill the ticket").click()
    sell = page.get_by_role("button", name="Sell 5 MSFT")
    expect(sell).to_be_focused()
    sell.click()
    expect(page.locator("#ticket-result")).to_contain_text("filled")
    expect(position).to_have_count(0)  # flat: the API lists open positions only
    expect(page.locator("#acct-realized")).not_to_have_text("—")


def test_resting_limit_is_replaced_then_canceled(server: Server, open_page: OpenPage) -> None:
    page = sign_in(open_page(*WIDE), server, server.token("demo"))
    bid = Decimal(server.get("/api/v1/quotes/NVDA")["bid"])
    limit = (bid * Decimal("0.95")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    ticket(page, "NVDA", "3", "limit", limit_price=str(limit), time_in_force="gtc")
    page.get_by_role("button", name="Buy 3 NVDA").click()
    expect(page.locator("#ticket-result")).to_contain_text("Accepted")

    resting = blotter_rows(page, "NVDA")
    expect(resting).to_have_count(1)
    expect(resting.first).to_have_attribute("data-status", "new")
    expect(page.locator("#open-count")).to_have_text("1")

    resting.first.get_by_role("button", name="Replace order buy 3 NVDA").click()
    dialog = page.get_by_role("dialog", name="Replace order")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Quantity").fill("4")
    dialog.get_by_role("button", name="Replace").click()
    expect(dialog).to_be_hidden()
    expect(resting).to_have_count(1)
    expect(resting.first.locator("td").nth(3)).to_have_text("4")
    expect(resting.first).to_have_attribute("data-status", "new")

    resting.first.get_by_role("button", name="Cancel order buy 4 NVDA").click()
    expect(resting).to_have_count(0)
    expect(page.locator("#open-count")).to_have_text("0")
    page.get_by_role("button", name=re.compile("^Recent")).click()
    statuses = blotter_rows(page, "NVDA").evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert sorted(statuses) == ["canceled", "replaced"]


def test_risk_denial_shows_code_rule_and_message(server: Server, open_page: OpenPage) -> None:
    watched = open_page(*WIDE)
    watched.expect_http("POST", "/api/v1/orders", 422)
    page = sign_in(watched, server, server.token("demo"))
    ticket(page, "AAPL", "100000")
    page.get_by_role("button", name="Buy 100,000 AAPL").click()
    denial = page.get_by_role("alert").filter(has_text="Order refused")
    expect(denial).to_be_visible()
    expect(page.locator("#denial-code")).to_have_text("max_notional_exceeded")
    expect(page.locator("#denial-rule")).to_have_text("max_notional")
    expect(page.locator("#denial-message")).to_contain_text("exceeds the limit")
    page.get_by_role("button", name=re.compile("^Recent")).click()
    rejected = page.locator("#blotter tbody tr[data-status='rejected']").first
    expect(rejected).to_contain_text("max notional exceeded (max_notional)")
    screenshot(page, "dashboard-denial-1280x800.png")


def test_admin_halts_trading_and_the_ticket_is_refused(server: Server, open_page: OpenPage) -> None:
    trader_page = open_page(*WIDE)
    trader_page.expect_http("POST", "/api/v1/orders", 422)
    trader = sign_in(trader_page, server, server.token("demo"))
    admin = sign_in(open_page(*WIDE), server, server.token("admin"))
    try:
        expect(admin.locator("#who")).to_have_text("Admin")
        expect(admin.locator("#ticket")).to_be_hidden()
        expect(admin.locator("#ledger-summary")).to_have_text("All ledger invariants hold.")
        admin.get_by_role("button", name="Verify ledger").click()
        expect(admin.locator("#ledger-summary")).to_have_text("All ledger invariants hold.")
        expect(admin.locator("#ledger-checks tbody tr").first).to_contain_text("ok")

        admin.get_by_label("Max order qty").fill("90000")
        admin.get_by_role("button", name="Apply limits").click()
        expect(admin.locator("#limits-result")).to_contain_text("90000")

        admin.get_by_role("button", name="Halt trading").click()
        expect(admin.locator("#state-result")).to_contain_text("platform: halted")
        expect(admin.locator("#platform-state")).to_have_text("halted")
        screenshot(admin, "dashboard-admin-1280x800.png")

        ticket(trader, "JPM", "2")
        trader.get_by_role("button", name="Buy 2 JPM").click()
        expect(trader.locator("#ticket-denial")).to_be_visible()
        expect(trader.locator("#denial-code")).to_have_text("trading_halted")
        expect(trader.locator("#denial-rule")).to_have_text("trading_state")
        expect(trader.locator("#denial-message")).to_contain_text("halted")
        expect(trader.locator("#trading-state")).to_have_text("Trading halted")
    finally:
        server.post("/api/v1/admin/trading-state", {"state": "active"}, server.token("admin"))
    admin.get_by_role("button", name="Active").click()
    expect(admin.locator("#platform-state")).to_have_text("active")


def test_narrow_screen_stacks_into_one_column(server: Server, open_page: OpenPage) -> None:
    page = sign_in(open_page(*NARROW), server, server.token("demo"))
    expect(page.locator("#watchlist tbody tr")).to_have_count(20)
    expect(page.locator("#watchlist td.last").first).not_to_have_text("—")
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width}"
    chart = page.locator("#chart").bounding_box()
    assert chart is not None
    assert chart["width"] > 300
    assert chart["height"] > 200
    for panel in ("#watch-title", "#chart-symbol", "#ticket-title", "#orders-title"):
        box = page.locator(panel).bounding_box()
        assert box is not None
        assert 0 <= box["x"] <= box["x"] + box["width"] <= NARROW[0]
    screenshot(page, "dashboard-390x844.png")
    screenshot(page, "dashboard-390-full.png", full_page=True)


def test_every_control_has_an_accessible_name(server: Server, open_page: OpenPage) -> None:
    page = sign_in(open_page(*WIDE), server, server.token("demo"))
    expect(page.locator("#watchlist tbody tr")).to_have_count(20)
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('input, select, button, textarea')]
            .filter(e => e.offsetParent !== null || e.type === 'radio')
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                         && !(e.tagName === 'BUTTON' && e.textContent.trim()))
            .map(e => e.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []


def test_money_is_exact_in_the_page(server: Server, open_page: OpenPage) -> None:
    page = open_page(*WIDE).page
    page.goto(server.url + "/")
    results = page.evaluate(
        """async () => {
            const { Dec } = await import('/static/js/decimal.js');
            const { amount, signed, percent, quantity } = await import('/static/js/format.js');
            const p = (text) => Dec.parse(text);
            return [
                p('0.1').add(p('0.2')).toFixed(2),
                p('479.9800').mul(p('5')).toFixed(2),
                p('270.06').sub(p('270.1200')).mul(p('10')).toFixed(2),
                p('-0.005').toFixed(2),
                amount('1234567.891'),
                signed('-12.3'),
                signed('5'),
                percent(-0.1234),
                quantity('100000'),
                String(p('abc')),
            ];
        }"""
    )
    assert results == [
        "0.30",
        "2399.90",
        "-0.60",
        "-0.01",
        "1,234,567.89",
        "−12.30",
        "+5.00",
        "−12.34%",
        "100,000",
        "null",
    ]
