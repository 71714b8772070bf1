"""Market data: feeds, normalizers, the last-price cache and candles."""
