#!/bin/sh
# The seed's Phase 1, for the migration rehearsal (tests/compose/test_migration.py):
# one Postfix whose static virtual_aliases.cf expands the list into its members
# and relays every copy to SES (here: the stand-in) with STARTTLS and AUTH.
# Runs in the listkeeper-postfix image, whose Debian Postfix it configures the
# way the seed's container did, with postconf; nothing of Listkeeper is used.
set -eu

cp /static/virtual_aliases.cf /etc/postfix/virtual_aliases.cf
postmap /etc/postfix/virtual_aliases.cf
umask 077
printf '[%s]:587 %s:%s\n' "$RELAY_NAME" "$(cat /run/secrets/ses_user)" "$(cat /run/secrets/ses_pass)" \
    > /etc/postfix/sasl_passwd
postmap /etc/postfix/sasl_passwd
umask 022

postconf -e \
    "myhostname=old.lists.example.org" \
    "mydestination=" \
    "inet_interfaces=all" \
    "inet_protocols=ipv4" \
    "mynetworks=127.0.0.0/8" \
    "virtual_alias_domains=lists.example.org" \
    "virtual_alias_maps=hash:/etc/postfix/virtual_aliases.cf" \
    "relayhost=[$RELAY_NAME]:587" \
    "smtp_sasl_auth_enable=yes" \
    "smtp_sasl_password_maps=hash:/etc/postfix/sasl_passwd" \
    "smtp_sasl_security_options=noanonymous" \
    "smtp_tls_security_level=secure" \
    "smtp_tls_CAfile=/test-ca/ca.pem" \
    "maillog_file=/dev/stdout"
# No chroot (the container is the jail), and the log service start-fg needs.
postconf -F '*/*/chroot = n'
postconf -M "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd"
exec postfix start-fg
