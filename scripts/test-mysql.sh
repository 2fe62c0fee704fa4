#!/usr/bin/env bash
# npm run test:mysql — the whole suite against a real MySQL.
#
# With TEST_MYSQL_URL set (a MySQL 8.0+ at hand, as root or an account that
# may create databases), runs `npm test` against it. Otherwise fetches the
# MySQL server that Debian's unstable suite carries (9.x) with apt into a
# private directory — its own apt state, nothing installed on the system —
# unpacks it with dpkg -x, starts it without a password on a free port, runs
# the suite, and stops it by PID. Unstable's mysqld needs a newer libc and
# libstdc++ than a stable Debian has, so the libraries it Depends on are
# resolved by apt from unstable too and mysqld is started through unstable's
# own dynamic loader with --library-path. Cached under $MYSQL_CACHE_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${TEST_MYSQL_URL:-}" ]; then
  exec npm test
fi

CACHE=${MYSQL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lms-webhooks-sidecar/mysql}
ROOT=$CACHE/root
mkdir -p "$CACHE"

# The Debian mirror this machine already uses, with the suite swapped for unstable.
mirror() {
  local uri
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || { echo "test:mysql: no Debian mirror found in /etc/apt; set TEST_MYSQL_URL to a MySQL 8.0+ instead" >&2; exit 1; }
  echo "$uri"
}

if [ ! -x "$ROOT/usr/sbin/mysqld" ]; then
  echo "test:mysql: fetching MySQL from Debian unstable into $CACHE (once)"
  rm -rf "$CACHE/apt" "$ROOT"
  mkdir -p "$CACHE/apt/state/lists/partial" "$CACHE/apt/cache/archives/partial" "$ROOT"
  : > "$CACHE/apt/state/status"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(mirror) unstable main" > "$CACHE/apt/sources.list"
  # An empty dpkg status makes apt resolve every Depends from unstable (libc6, libstdc++6, libzstd1, …).
  APT=(-o "Dir::State=$CACHE/apt/state" -o "Dir::State::status=$CACHE/apt/state/status" -o "Dir::Cache=$CACHE/apt/cache"
       -o "Dir::Etc::SourceList=$CACHE/apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
       -o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false -o Debug::NoLocking=true -o APT::Sandbox::User=root)
  apt-get "${APT[@]}" -qq update
  apt-get "${APT[@]}" -qq -y install --download-only mysql-server-core mysql-client-core >/dev/null
  for deb in "$CACHE"/apt/cache/archives/*.deb; do dpkg -x "$deb" "$ROOT"; done
  rm -rf "$CACHE/apt"
fi

# mysqld through unstable's loader and libraries; --no-defaults first, or it reads the MariaDB config.
MYSQLD=$CACHE/mysqld
cat > "$MYSQLD" <<WRAP
#!/bin/sh
exec "$ROOT/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "$ROOT/usr/lib/x86_64-linux-gnu" \\
  "$ROOT/usr/sbin/mysqld" --no-defaults --basedir="$ROOT/usr" --lc-messages-dir="$ROOT/usr/share/mysql" "\$@"
WRAP
chmod +x "$MYSQLD"

RUN=$(mktemp -d "${TMPDIR:-/tmp}/whtest-mysql-XXXXXX")
PID=
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill "$PID"
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$RUN"
}
trap cleanup EXIT

PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
mkdir -p "$RUN/files"
"$MYSQLD" --initialize-insecure --datadir="$RUN/data" --user=root --log-error="$RUN/init.log"
"$MYSQLD" --datadir="$RUN/data" --user=root --port="$PORT" --bind-address=127.0.0.1 --socket="$RUN/sock" \
  --mysqlx=OFF --disable-log-bin --secure-file-priv="$RUN/files" --pid-file="$RUN/pid" --log-error="$RUN/err.log" &
PID=$!
for _ in $(seq 1 300); do
  node -e "require('mysql2').createConnection({host:'127.0.0.1',port:$PORT,user:'root'}).connect(e=>process.exit(e?1:0))" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { echo "test:mysql: mysqld exited; its log:" >&2; cat "$RUN/err.log" >&2; exit 1; }
  sleep 0.1
done
echo "test:mysql: $("$MYSQLD" --version | sed 's/^.*Ver /MySQL /') on 127.0.0.1:$PORT"

TEST_MYSQL_URL="mysql://root@127.0.0.1:$PORT" TEST_MYSQLD="$MYSQLD" npm test
