#!/bin/sh
# Create the secret files compose.yaml mounts, with random values, once.
# Existing files are left alone (re-running never changes a password).
# SES credentials cannot be generated: the script says how to write them.
#
#   docker/make-secrets.sh [DIR]     (default: ./secrets next to compose.yaml)
set -eu
dir="${1:-$(dirname "$0")/../secrets}"
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

random() {
    # hex: URL-safe, so it can go into DATABASE_URL and Postfix's map files as is.
    od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

for name in db_password postfix_db_password secret_key metrics_token; do
    if [ ! -e "$dir/$name" ]; then
        random > "$dir/$name"
        echo "created $dir/$name"
    fi
done

# Compose bind-mounts secret files with their host permissions: the app runs as
# uid 10001 and must be able to read them. The 0700 directory keeps other host
# users out.
chmod 0644 "$dir"/db_password "$dir"/postfix_db_password "$dir"/secret_key "$dir"/metrics_token

for name in ses_user ses_pass; do
    if [ ! -s "$dir/$name" ]; then
        echo "missing $dir/$name: write your SES SMTP credentials (docs/ses.md), e.g."
        echo "  printf %s 'AKIA...' > $dir/ses_user; printf %s '...' > $dir/ses_pass"
    fi
done
