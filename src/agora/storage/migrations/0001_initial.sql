-- Agora's first schema. Money and quantities are INTEGER minor units (never REAL or NUMERIC);
-- times are RFC 3339 TEXT; every table is STRICT so a wrong type is refused, not coerced.

CREATE TABLE accounts (
    account_id    TEXT PRIMARY KEY,
    currency      TEXT NOT NULL,
    trading_state TEXT NOT NULL,
    limits        TEXT  -- msgspec JSON of RiskLimits; NULL: the platform defaults
) STRICT;

CREATE TABLE orders (
    order_id            TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL
                        REFERENCES accounts (account_id) DEFERRABLE INITIALLY DEFERRED,
    client_order_id     TEXT,
    symbol              TEXT NOT NULL,
    side                TEXT NOT NULL,
    order_type          TEXT NOT NULL,
    time_in_force       TEXT NOT NULL,
    qty                 INTEGER NOT NULL,
    qty_scale           INTEGER NOT NULL,
    limit_price         INTEGER,
    stop_price          INTEGER,
    reserve_price       INTEGER,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    status              TEXT NOT NULL,
    prior_status        TEXT,
    filled_qty          INTEGER NOT NULL,
    filled_notional     INTEGER NOT NULL,
    filled_cash         INTEGER NOT NULL,
    last_fill_cash      INTEGER NOT NULL,
    replace_base_filled INTEGER NOT NULL,
    hold_id             TEXT,
    hold_amount         INTEGER NOT NULL,
    hold_posted         INTEGER NOT NULL,
    hold_seq            INTEGER NOT NULL,
    reject_reason       TEXT,
    replaces            TEXT,
    replaced_by         TEXT,
    venue_order_id      TEXT
) STRICT;

CREATE UNIQUE INDEX orders_client_order_id
    ON orders (account_id, client_order_id) WHERE client_order_id IS NOT NULL;
CREATE INDEX orders_account_status ON orders (account_id, status);
-- Keep this WHERE identical to OPEN_ORDERS in records.py, or SQLite will not use the index.
-- (A NOT IN list here costs more per upserted row than the plain comparisons.)
CREATE INDEX orders_open ON orders (order_id)
    WHERE status <> 'canceled' AND status <> 'expired' AND status <> 'filled'
    AND status <> 'rejected' AND status <> 'replaced';

CREATE TABLE fills (
    order_id   TEXT NOT NULL REFERENCES orders (order_id) DEFERRABLE INITIALLY DEFERRED,
    fill_id    TEXT NOT NULL,
    account_id TEXT NOT NULL,
    symbol     TEXT NOT NULL,
    side       TEXT NOT NULL,
    qty        INTEGER NOT NULL,
    price      INTEGER NOT NULL,
    fee_cents  INTEGER NOT NULL,
    cash_cents INTEGER NOT NULL,
    timestamp  TEXT NOT NULL,
    PRIMARY KEY (order_id, fill_id)
) STRICT;

CREATE TABLE transfers (
    seq            INTEGER PRIMARY KEY,
    transfer_id    TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL,
    debit_account  TEXT NOT NULL,
    credit_account TEXT NOT NULL,
    asset          TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    pending_id     TEXT,
    order_id       TEXT,
    reason         TEXT NOT NULL,
    timestamp      TEXT NOT NULL
) STRICT;

-- Keep this WHERE identical to CLIENT_TRANSFERS in records.py.
CREATE INDEX transfers_client ON transfers (seq) WHERE reason IN ('deposit', 'withdrawal');

CREATE TABLE balances (
    account TEXT PRIMARY KEY,
    asset   TEXT NOT NULL,
    posted  INTEGER NOT NULL,
    pending INTEGER NOT NULL
) STRICT;

CREATE TABLE holds (
    hold_id        TEXT PRIMARY KEY,
    debit_account  TEXT NOT NULL,
    credit_account TEXT NOT NULL,
    asset          TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    posted         INTEGER NOT NULL,
    voided         INTEGER NOT NULL CHECK (voided IN (0, 1)),
    order_id       TEXT
) STRICT;

-- Keep this WHERE identical to OPEN_HOLDS in records.py.
CREATE INDEX holds_open ON holds (hold_id) WHERE voided = 0 AND posted < amount;

CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    account_id TEXT,
    body       BLOB NOT NULL  -- encode_event(event)
) STRICT;

CREATE TABLE relay (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
) STRICT;

CREATE TABLE checkpoints (
    subscriber TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL
) STRICT;

CREATE TABLE projections (
    collection TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    PRIMARY KEY (collection, key)
) STRICT;
