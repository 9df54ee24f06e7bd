#!/bin/sh
# The app image's entrypoint: entrypoint.sh ROLE [ARGS...]
#
#   migrate  apply migrations, create the cache table, grant the Postfix
#            lookup role, then exit
#            (compose runs it once; the other roles wait for it to succeed)
#   web      gunicorn serving listkeeper.wsgi on WEB_LISTEN (default 0.0.0.0:8000)
#   lmtpd    the LMTP server Postfix delivers list mail to (LMTP_LISTEN)
#   worker   the delivery worker handing copies to Postfix (REINJECT_HOST)
#   housekeeping  periodic jobs every HOUSEKEEPING_EVERY seconds (default 300):
#            held-post expiry, postponed held notices, unprocessed bounces,
#            digests that are due
#   anything else runs as a command, e.g. `listkeeper createadmin EMAIL`.
#
# The settings find the database themselves (DATABASE_HOST/PORT/NAME/USER and
# the password in DATABASE_PASSWORD_FILE), so `docker compose exec web
# listkeeper ...` reaches the same database as the roles started here.
# Paths default to the container's and follow the environment, so the tests
# run this script on the host with a temporary root.
set -eu

die() {
    echo "entrypoint: $*" >&2
    exit 64
}

role="${1:-web}"
[ $# -gt 0 ] && shift

# Tokens in mail (unsubscribe links, VERP addresses) are signed in one container
# and checked in another: every container needs the same key.
if [ -z "${SECRET_KEY:-}" ] && [ -z "${SECRET_KEY_FILE:-}" ]; then
    die "set SECRET_KEY_FILE to a secret shared by every container (make one with: openssl rand -hex 32 > secrets/secret_key)"
fi

export LISTKEEPER_DATA_DIR="${LISTKEEPER_DATA_DIR:-/var/lib/listkeeper}"

case "$role" in
    migrate)
        listkeeper migrate --no-input
        # The throttle counters' table when CACHE_URL=db://... (a no-op otherwise).
        listkeeper createcachetable
        if [ -n "${POSTFIX_DB_PASSWORD_FILE:-}" ]; then
            listkeeper db-readonly-role "${POSTFIX_DB_USER:-listkeeper_postfix}" \
                --password-file "$POSTFIX_DB_PASSWORD_FILE"
        fi
        ;;
    web)
        if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
            # Samples of a previous run's processes would be counted again.
            rm -rf "$PROMETHEUS_MULTIPROC_DIR"
            mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
        fi
        exec gunicorn --config python:listkeeper.gunicorn_conf "$@" listkeeper.wsgi
        ;;
    lmtpd)
        exec listkeeper lmtpd "$@"
        ;;
    worker)
        # The container's hostname is unique per replica: its healthcheck finds
        # this worker's own heartbeat by it.
        WORKER_NAME="${WORKER_NAME:-$(hostname)}"
        export WORKER_NAME
        exec listkeeper worker "$@"
        ;;
    housekeeping)
        every="${HOUSEKEEPING_EVERY:-300}"
        trap 'exit 0' TERM INT
        while :; do
            listkeeper mail-housekeeping || echo "entrypoint: mail-housekeeping failed; again in ${every}s" >&2
            # Delivery reports LMTP stored but could not process (normally none).
            listkeeper process-bounces --quiet || echo "entrypoint: process-bounces failed; again in ${every}s" >&2
            # Digests go out at their list's hour: up to HOUSEKEEPING_EVERY late.
            listkeeper digests send --quiet || echo "entrypoint: digests send failed; again in ${every}s" >&2
            sleep "$every" &
            wait $!
        done
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
