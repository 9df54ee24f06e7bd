#!/bin/sh
# First start: initdb with POSTGRES_USER as the superuser and the password from
# POSTGRES_PASSWORD_FILE, then create POSTGRES_DB. Every start: run the server
# as "postgres" (setpriv execs, so the server is PID 1 and gets the stop signal).
set -eu

as_postgres() {
    setpriv --reuid=postgres --regid=postgres --init-groups "$@"
}

user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-$user}"
install -d -o postgres -g postgres -m 0700 "$PGDATA"
install -d -o postgres -g postgres -m 2775 /var/run/postgresql

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    [ -r "${POSTGRES_PASSWORD_FILE:-}" ] || {
        echo "postgres-entrypoint: POSTGRES_PASSWORD_FILE is not readable" >&2
        exit 64
    }
    as_postgres initdb -D "$PGDATA" -U "$user" --pwfile="$POSTGRES_PASSWORD_FILE" \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    if [ "$db" != postgres ]; then
        as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
        as_postgres createdb -U "$user" -O "$user" "$db"
        as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
fi

if [ "${1:-}" = postgres ]; then
    shift
    exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" "$@"
fi
exec "$@"
