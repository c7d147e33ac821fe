#!/usr/bin/env bash
# Restore drill: prove that the newest backup (or the FILE given) restores. It is restored into a scratch
# database that `gamif backup drill` creates and drops (PostgreSQL: a new database on the server of
# GAMIF_DATABASE_URL, or of --server-url URL; embedded SQLite: a temporary directory), never into the
# live one, and Redis is not touched. The restored row counts and every user's XP are compared with the
# backup's manifest. Prints PASS or FAIL with the numbers; exits 0 on PASS, 1 on FAIL. Run it after
# backup.sh, or weekly. $GAMIF_BIN is the gamif command (default: gamif on PATH).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=backup-files.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/backup-files.sh"

gamif=${GAMIF_BIN:-gamif}

if [[ $# -gt 0 && $1 != -* ]]; then
    file=$1
    shift
else
    dir=${GAMIF_BACKUP_DIR:?give a backup file, or set GAMIF_BACKUP_DIR to drill the newest backup in it}
    list_backups "$dir"
    if [[ ${#backups[@]} -eq 0 ]]; then
        echo "restore drill FAIL: no backup (gamif-<UTC time>.tar) in $dir"
        exit 1
    fi
    file=${backups[-1]}
fi

if env -u GAMIF_REDIS_URL "$gamif" backup drill "$@" -- "$file"; then
    echo "restore drill PASS: $file"
else
    echo "restore drill FAIL: $file"
    exit 1
fi
