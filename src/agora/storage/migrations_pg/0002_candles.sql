-- Candles: the twin of migrations/0002_candles.sql. OHLCV per symbol, interval ('1m', '5m',
-- '1h') and UTC-aligned start; prices BIGINT units of $0.0001, volume BIGINT qty units; the start
-- is BIGINT seconds since the epoch, as in SQLite, so both stores share one row layout.

CREATE TABLE candles (
    symbol       TEXT COLLATE "C" NOT NULL,
    interval     TEXT COLLATE "C" NOT NULL,
    start_unix_s BIGINT NOT NULL,
    open         BIGINT NOT NULL,
    high         BIGINT NOT NULL,
    low          BIGINT NOT NULL,
    close        BIGINT NOT NULL,
    volume       BIGINT NOT NULL,
    PRIMARY KEY (symbol, interval, start_unix_s)
);

-- Resuming open candles after a restart reads one interval's newest rows across symbols.
CREATE INDEX candles_interval_start ON candles (interval, start_unix_s);
