#!/usr/bin/env bash
# Restore gamif's database from a backup: the FILE given, else the newest gamif-*.tar in
# $GAMIF_BACKUP_DIR. Extra arguments go to `gamif restore` (--force to replace a database that is not
# empty). It restores into the database gamif's settings name (GAMIF_DATABASE_URL, else SQLite in
# GAMIF_DATA_DIR) and, with GAMIF_REDIS_URL, rebuilds the leaderboards and restarts every topic on a new
# epoch. Stop the workers first (and, embedded, the server); $GAMIF_BIN is the gamif command.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=backup-files.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/backup-files.sh"

gamif=${GAMIF_BIN:-gamif}

if [[ $# -gt 0 && $1 != -* ]]; then
    file=$1
    shift
else
    dir=${GAMIF_BACKUP_DIR:?give a backup file, or set GAMIF_BACKUP_DIR to restore the newest backup in it}
    list_backups "$dir"
    if [[ ${#backups[@]} -eq 0 ]]; then
        echo "restore.sh: no backup (gamif-<UTC time>.tar) in $dir" >&2
        exit 1
    fi
    file=${backups[-1]}
fi
echo "restore.sh: restoring $file" >&2
exec "$gamif" restore "$@" -- "$file"
