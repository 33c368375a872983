#!/usr/bin/env bash
# Back up a running Hubbub server: the database, the key that encrypts the secrets stored in it,
# the media DTLS certificate and message attachments, into a new timestamped directory.
#
#   deploy/backup.sh DATA_DIR BACKUP_ROOT
#
# The database is $HUBBUB_DATABASE_URL when it is set (PostgreSQL: pg_dump, custom format), else
# the SQLite file DATA_DIR/hubbub.db (SQLite's online backup: consistent while the server writes).
# Prints the directory it wrote. See docs/deployment.md for restoring.
set -euo pipefail
data_dir=${1:?usage: backup.sh DATA_DIR BACKUP_ROOT}
dest="${2:?usage: backup.sh DATA_DIR BACKUP_ROOT}/hubbub-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$dest"
chmod 700 "$dest"
url=${HUBBUB_DATABASE_URL:-}
if [[ $url == postgresql* ]]; then
  # libpq takes the same URL without SQLAlchemy's driver name
  pg_dump --format=custom --no-owner --file="$dest/hubbub.pgdump" "${url/+asyncpg/}"
else
  db=${url#sqlite+aiosqlite://}
  db=${db#/}
  [ -n "$db" ] || db="$data_dir/hubbub.db"
  python3 - "$db" "$dest/hubbub.db" <<'PY'
import sqlite3, sys
source, target = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
source.backup(target)  # page by page, while the server keeps writing (WAL)
target.close()
source.close()
PY
fi
for name in secret.key dtls-certificate.pem; do
  if [ -f "$data_dir/$name" ]; then cp -p "$data_dir/$name" "$dest/"; fi
done
if [ -d "$data_dir/attachments" ]; then cp -a "$data_dir/attachments" "$dest/"; fi
echo "$dest"
