#!/bin/sh
# Nightly PostgreSQL backups, encrypted, with retention.
#
#   backup.sh          dump now, then every day at BACKUP_AT (UTC, HH:MM)
#   backup.sh --once   dump now and exit (the restore drill uses this)
#
# Each dump is `pg_dump --format=custom`, encrypted with AES-256 (openssl
# enc, PBKDF2) under BACKUP_PASSPHRASE, written to BACKUP_DIR as
# tradingbot-YYYYmmddTHHMMSSZ.dump.enc; dumps older than
# BACKUP_RETENTION_DAYS are deleted. Restore:
#   openssl enc -d -aes-256-cbc -pbkdf2 -iter 200000 -pass env:BACKUP_PASSPHRASE \
#     -in FILE | pg_restore --clean --if-exists --no-owner -d "$DATABASE_URL"
set -eu

: "${DATABASE_URL:?set DATABASE_URL (postgres://…)}"
: "${BACKUP_PASSPHRASE:?set BACKUP_PASSPHRASE}"
BACKUP_DIR="${BACKUP_DIR:-/backups}"
BACKUP_RETENTION_DAYS="${BACKUP_RETENTION_DAYS:-14}"
BACKUP_AT="${BACKUP_AT:-03:30}"

dump() {
    mkdir -p "$BACKUP_DIR"
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    out="$BACKUP_DIR/tradingbot-$stamp.dump.enc"
    # Written under a temporary name: a failed dump never looks complete.
    pg_dump --format=custom --no-owner "$DATABASE_URL" \
        | openssl enc -aes-256-cbc -pbkdf2 -iter 200000 -salt -pass env:BACKUP_PASSPHRASE -out "$out.partial"
    mv "$out.partial" "$out"
    find "$BACKUP_DIR" -name 'tradingbot-*.dump.enc' -type f -mtime +"$BACKUP_RETENTION_DAYS" -delete
    echo "backup: wrote $out"
}

dump
[ "${1:-}" = "--once" ] && exit 0
while true; do
    now=$(date -u +%s)
    next=$(date -u -d "$(date -u +%F) $BACKUP_AT" +%s)
    [ "$next" -le "$now" ] && next=$((next + 86400))
    sleep $((next - now))
    dump
done
