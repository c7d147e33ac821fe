# shellcheck shell=bash
# Sourced by backup.sh, restore.sh and restore-drill.sh: the one place that knows how backups are named.
# A backup is $dir/gamif-YYYYmmddTHHMMSSZ.tar (UTC), so that names sort by time; other files are never
# touched.

# Fills the array `backups` with the backups in directory $1, oldest first.
list_backups() {
    shopt -s nullglob
    # shellcheck disable=SC2034 # the array is the result: the sourcing script reads it
    backups=("$1"/gamif-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z.tar)
    shopt -u nullglob
}
