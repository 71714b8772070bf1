-- Agora's first PostgreSQL schema: the twin of migrations/0001_initial.sql (SQLite), laid out by
-- the same records.py rows. Money and quantities are BIGINT minor units (never NUMERIC, which
-- asyncpg returns as Decimal); times are RFC 3339 TEXT, as records.py writes them, so they sort
-- and compare exactly as in SQLite; event bodies and documents are BYTEA. Every text column is
-- COLLATE "C": ids, keys and times compare byte by byte whatever the database's default
-- collation (a locale collation would reorder "newest first" by id and break key-prefix ranges).

CREATE TABLE accounts (
    account_id    TEXT COLLATE "C" PRIMARY KEY,
    currency      TEXT COLLATE "C" NOT NULL,
    trading_state TEXT COLLATE "C" NOT NULL,
    limits        TEXT COLLATE "C"  -- msgspec JSON of RiskLimits; NULL: the platform defaults
);

CREATE TABLE orders (
    order_id            TEXT COLLATE "C" PRIMARY KEY,
    account_id          TEXT COLLATE "C" NOT NULL
                        REFERENCES accounts (account_id) DEFERRABLE INITIALLY DEFERRED,
    client_order_id     TEXT COLLATE "C",
    symbol              TEXT COLLATE "C" NOT NULL,
    side                TEXT COLLATE "C" NOT NULL,
    order_type          TEXT COLLATE "C" NOT NULL,
    time_in_force       TEXT COLLATE "C" NOT NULL,
    qty                 BIGINT NOT NULL,
    qty_scale           BIGINT NOT NULL,
    limit_price         BIGINT,
    stop_price          BIGINT,
    reserve_price       BIGINT,
    created_at          TEXT COLLATE "C" NOT NULL,
    updated_at          TEXT COLLATE "C" NOT NULL,
    status              TEXT COLLATE "C" NOT NULL,
    prior_status        TEXT COLLATE "C",
    filled_qty          BIGINT NOT NULL,
    filled_notional     BIGINT NOT NULL,
    filled_cash         BIGINT NOT NULL,
    last_fill_cash      BIGINT NOT NULL,
    replace_base_filled BIGINT NOT NULL,
    hold_id             TEXT COLLATE "C",
    hold_amount         BIGINT NOT NULL,
    hold_posted         BIGINT NOT NULL,
    hold_seq            BIGINT NOT NULL,
    reject_reason       TEXT COLLATE "C",
    replaces            TEXT COLLATE "C",
    replaced_by         TEXT COLLATE "C",
    venue_order_id      TEXT COLLATE "C"
);

CREATE UNIQUE INDEX orders_client_order_id
    ON orders (account_id, client_order_id) WHERE client_order_id IS NOT NULL;
CREATE INDEX orders_account_status ON orders (account_id, status);
-- Keep this WHERE identical to OPEN_ORDERS in records.py, so the planner matches the index.
CREATE INDEX orders_open ON orders (order_id)
    WHERE status <> 'canceled' AND status <> 'expired' AND status <> 'filled'
    AND status <> 'rejected' AND status <> 'replaced';

CREATE TABLE fills (
    order_id   TEXT COLLATE "C" NOT NULL
               REFERENCES orders (order_id) DEFERRABLE INITIALLY DEFERRED,
    fill_id    TEXT COLLATE "C" NOT NULL,
    account_id TEXT COLLATE "C" NOT NULL,
    symbol     TEXT COLLATE "C" NOT NULL,
    side       TEXT COLLATE "C" NOT NULL,
    qty        BIGINT NOT NULL,
    price      BIGINT NOT NULL,
    fee_cents  BIGINT NOT NULL,
    cash_cents BIGINT NOT NULL,
    timestamp  TEXT COLLATE "C" NOT NULL,
    seq        BIGINT GENERATED ALWAYS AS IDENTITY,  -- insertion order (SQLite's rowid)
    PRIMARY KEY (order_id, fill_id)
);

CREATE TABLE transfers (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transfer_id    TEXT COLLATE "C" NOT NULL UNIQUE,
    kind           TEXT COLLATE "C" NOT NULL,
    debit_account  TEXT COLLATE "C" NOT NULL,
    credit_account TEXT COLLATE "C" NOT NULL,
    asset          TEXT COLLATE "C" NOT NULL,
    amount         BIGINT NOT NULL,
    pending_id     TEXT COLLATE "C",
    order_id       TEXT COLLATE "C",
    reason         TEXT COLLATE "C" NOT NULL,
    timestamp      TEXT COLLATE "C" NOT NULL
);

-- Keep this WHERE identical to CLIENT_TRANSFERS in records.py.
CREATE INDEX transfers_client ON transfers (seq) WHERE reason IN ('deposit', 'withdrawal');

CREATE TABLE balances (
    account TEXT COLLATE "C" PRIMARY KEY,
    asset   TEXT COLLATE "C" NOT NULL,
    posted  BIGINT NOT NULL,
    pending BIGINT NOT NULL
);

CREATE TABLE holds (
    hold_id        TEXT COLLATE "C" PRIMARY KEY,
    debit_account  TEXT COLLATE "C" NOT NULL,
    credit_account TEXT COLLATE "C" NOT NULL,
    asset          TEXT COLLATE "C" NOT NULL,
    amount         BIGINT NOT NULL,
    posted         BIGINT NOT NULL,
    -- SMALLINT 0/1, not BOOLEAN: records.py's rows and OPEN_HOLDS ("voided = 0") are shared.
    voided         SMALLINT NOT NULL CHECK (voided IN (0, 1)),
    order_id       TEXT COLLATE "C"
);

-- Keep this WHERE identical to OPEN_HOLDS in records.py.
CREATE INDEX holds_open ON holds (hold_id) WHERE voided = 0 AND posted < amount;

-- Sequence numbers come from outbox_counter (below), not from a sequence: see ADR 14.
CREATE TABLE outbox (
    seq        BIGINT PRIMARY KEY CHECK (seq > 0),
    event_id   TEXT COLLATE "C" NOT NULL UNIQUE,
    type       TEXT COLLATE "C" NOT NULL,
    account_id TEXT COLLATE "C",
    body       BYTEA NOT NULL  -- encode_event(event)
);

-- One row: the last outbox seq handed out. A commit takes it (a row lock held to COMMIT) only to
-- number its events, so events are numbered in commit order and readers never see a gap that a
-- slower transaction fills later.
CREATE TABLE outbox_counter (
    id  SMALLINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL CHECK (seq >= 0)
);
INSERT INTO outbox_counter (id, seq) VALUES (1, 0);

CREATE TABLE relay (
    name TEXT COLLATE "C" PRIMARY KEY,
    seq  BIGINT NOT NULL
);

CREATE TABLE checkpoints (
    subscriber TEXT COLLATE "C" PRIMARY KEY,
    seq        BIGINT NOT NULL
);

CREATE TABLE projections (
    collection TEXT COLLATE "C" NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    value      BYTEA NOT NULL,
    PRIMARY KEY (collection, key)
);
