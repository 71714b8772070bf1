#!/usr/bin/env bash
# Sourced by scripts/test: make sure PostgreSQL (127.0.0.1:5432, trust auth, database `test`) and
# Redis (127.0.0.1:6379) answer, starting them, or installing them from Debian's packages first.
# Tests that need them fail under CI=true when they are missing; this is what keeps them there.

_as_root() { [ "$(id -u)" = 0 ]; }

_apt_install() {
    local log
    log="$(mktemp)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "$@"; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}

_postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

ensure_postgres() {
    _postgres_up && return 0
    _as_root || { echo "PostgreSQL is not running (and not root to start it)" >&2; return 0; }
    if ! command -v pg_ctlcluster >/dev/null; then
        echo "Installing PostgreSQL from Debian's packages…" >&2
        _apt_install postgresql postgresql-client || return 1
    fi
    local version
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    local conf="/etc/postgresql/$version/main/pg_hba.conf"
    if ! grep -q "agora-test trust" "$conf" 2>/dev/null; then
        # The tests connect as postgres over TCP without a password, as on the CI machines.
        sed -i '1i host all all 127.0.0.1/32 trust # agora-test trust' "$conf"
        sed -i '1i host all all ::1/128 trust # agora-test trust' "$conf"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    for _ in $(seq 1 50); do _postgres_up && break; sleep 0.2; done
    if ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" \
        | grep -q 1; then
        psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE test" >/dev/null
    fi
}

_redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

ensure_redis() {
    _redis_up && return 0
    _as_root || { echo "Redis is not running (and not root to start it)" >&2; return 0; }
    if ! command -v redis-server >/dev/null; then
        echo "Installing Redis from Debian's packages…" >&2
        _apt_install redis-server || return 1
    fi
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null
    for _ in $(seq 1 50); do _redis_up && break; sleep 0.1; done
}
