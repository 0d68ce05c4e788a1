#!/bin/sh
# Nightly PostgreSQL backups, sealed, with retention and an optional copy
# in S3-compatible storage.
#
#   backup.sh          dump now, then every day at BACKUP_AT (UTC, HH:MM)
#   backup.sh --once   dump now and exit (the restore drill uses this)
#
# Each dump is `pg_dump --format=custom`, sealed by `tradingbot backup seal`
# (AES-256-GCM in authenticated 64 KiB chunks, key from BACKUP_PASSPHRASE
# through Argon2id: an altered, truncated or spliced backup does not open),
# written to BACKUP_DIR as tradingbot-YYYYmmddTHHMMSSZ.dump.sealed; dumps
# older than BACKUP_RETENTION_DAYS are deleted. With BACKUP_S3_BUCKET set
# (and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, BACKUP_S3_ENDPOINT for a
# store other than AWS) each is also uploaded. Restore:
#   tradingbot backup open --input FILE \
#     | pg_restore --clean --if-exists --no-owner -d "$DATABASE_URL"
set -eu

: "${DATABASE_URL:?set DATABASE_URL (postgres://…)}"
: "${BACKUP_PASSPHRASE:?set BACKUP_PASSPHRASE}"
BACKUP_DIR="${BACKUP_DIR:-/backups}"
BACKUP_RETENTION_DAYS="${BACKUP_RETENTION_DAYS:-14}"
BACKUP_AT="${BACKUP_AT:-03:30}"
TRADINGBOT="${TRADINGBOT_BIN:-tradingbot}"

dump() {
    mkdir -p "$BACKUP_DIR"
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    out="$BACKUP_DIR/tradingbot-$stamp.dump.sealed"
    status="$BACKUP_DIR/.pg_dump.status"
    # Written under a temporary name: a failed dump never looks complete.
    # (POSIX sh has no pipefail: pg_dump's own status is kept aside.)
    { pg_dump --format=custom --no-owner "$DATABASE_URL"; echo $? > "$status"; } \
        | "$TRADINGBOT" backup seal --output "$out.partial"
    if [ "$(cat "$status")" != 0 ]; then
        rm -f "$out.partial" "$status"
        echo "backup: pg_dump failed; nothing written" >&2
        return 1
    fi
    rm -f "$status"
    mv "$out.partial" "$out"
    find "$BACKUP_DIR" -name 'tradingbot-*.dump.sealed' -type f -mtime +"$BACKUP_RETENTION_DAYS" -delete
    echo "backup: wrote $out"
    if [ -n "${BACKUP_S3_BUCKET:-}" ]; then
        "$TRADINGBOT" backup upload "$out"
    fi
}

dump
[ "${1:-}" = "--once" ] && exit 0
while true; do
    now=$(date -u +%s)
    next=$(date -u -d "$(date -u +%F) $BACKUP_AT" +%s)
    [ "$next" -le "$now" ] && next=$((next + 86400))
    sleep $((next - now))
    dump || true
done
