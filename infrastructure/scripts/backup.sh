#!/usr/bin/env bash
# Scheduled backup of gamif's database (run it from cron or a systemd timer; see the README, "Backups
# and recovery"). Writes $GAMIF_BACKUP_DIR/gamif-<UTC time>.tar with `gamif backup`, then deletes the
# oldest of those files beyond $GAMIF_BACKUP_KEEP: a number N keeps the newest N backups, "Nd" keeps those
# made in the last N days (the newest one is always kept). Only files named gamif-YYYYmmddTHHMMSSZ.tar
# are ever deleted. Extra arguments go to `gamif backup` (e.g. --drain). The database is the one gamif's
# own settings name (GAMIF_DATABASE_URL, else SQLite in GAMIF_DATA_DIR); $GAMIF_BIN is the gamif command
# (default: gamif on PATH).
set -euo pipefail

dir=${GAMIF_BACKUP_DIR:?set GAMIF_BACKUP_DIR to the directory that keeps the backups}
keep=${GAMIF_BACKUP_KEEP:-14}
# shellcheck source-path=SCRIPTDIR source=backup-files.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/backup-files.sh"

gamif=${GAMIF_BIN:-gamif}

if [[ ! $keep =~ ^[1-9][0-9]*d?$ ]]; then
    echo "backup.sh: GAMIF_BACKUP_KEEP must be a number of backups (14) or of days (30d), not '$keep'" >&2
    exit 2
fi
mkdir -p -- "$dir"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
file="$dir/gamif-$stamp.tar"
"$gamif" backup --output "$file" "$@"

# The backups, oldest first: their names sort by time.
list_backups "$dir"

doomed=()
if [[ $keep == *d ]]; then
    days=${keep%d}
    cutoff=$(date -u -d "-$days days" +%Y%m%dT%H%M%SZ)
    for old in "${backups[@]}"; do
        name=$(basename -- "$old")
        made=${name#gamif-}
        made=${made%.tar}
        if [[ $old != "$file" && $made < $cutoff ]]; then
            doomed+=("$old")
        fi
    done
else
    excess=$((${#backups[@]} - keep))
    for ((i = 0; i < excess; i++)); do
        doomed+=("${backups[i]}")
    done
fi
for old in "${doomed[@]}"; do
    rm -f -- "$old"
    echo "backup.sh: removed $old (retention: $keep)" >&2
done
echo "backup.sh: $file; $((${#backups[@]} - ${#doomed[@]})) backup(s) kept in $dir"
