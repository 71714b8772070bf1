-- Resuming an account's order stream (SSE Last-Event-ID) reads only that account's events.
CREATE INDEX outbox_account_seq ON outbox (account_id, seq);
