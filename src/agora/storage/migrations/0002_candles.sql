-- Candles: OHLCV per symbol, interval ('1m', '5m', '1h') and UTC-aligned start. Prices are
-- INTEGER units of $0.0001 and volume INTEGER qty units. The start is INTEGER seconds since the
-- epoch (not RFC 3339 TEXT as elsewhere) so range queries compare fixed-width numbers.
-- An open candle is rewritten in place as it grows; intervals without trades have no row.

CREATE TABLE candles (
    symbol       TEXT NOT NULL,
    interval     TEXT NOT NULL,
    start_unix_s INTEGER NOT NULL,
    open         INTEGER NOT NULL,
    high         INTEGER NOT NULL,
    low          INTEGER NOT NULL,
    close        INTEGER NOT NULL,
    volume       INTEGER NOT NULL,
    PRIMARY KEY (symbol, interval, start_unix_s)
) STRICT, WITHOUT ROWID;

-- Resuming open candles after a restart reads one interval's newest rows across symbols.
CREATE INDEX candles_interval_start ON candles (interval, start_unix_s);
