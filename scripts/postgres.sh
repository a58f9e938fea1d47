#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and the benchmark.
#   scripts/postgres.sh start [DIR]   makes a cluster in DIR (default: a new temp
#                                     folder), starts it on a free loopback port,
#                                     prints its URL (postgres://postgres@127.0.0.1:PORT/secretfill)
#                                     on stdout and leaves DIR/url, DIR/pgdata.
#   scripts/postgres.sh halt DIR      stops the server, keeps the cluster;
#   scripts/postgres.sh resume DIR    starts it again on the same port.
#   scripts/postgres.sh stop DIR      stops it and removes DIR.
# With SECRETFILL_PG_SSL=1, start also turns TLS on (ssl=on) with a
# certificate it makes for 127.0.0.1 and localhost, signed by a CA it makes
# (DIR/root.crt, for sslrootcert=), and logs each connection (log_connections),
# so a test can see that a connection used TLS.
# With SECRETFILL_PG_PASSWORD=PW, logins over TCP need a password
# (scram-sha-256): start creates the role sf with password PW, owning the
# database secretfill, and prints postgres://sf@127.0.0.1:PORT/secretfill
# (no password in it: the tests give it by PGPASSWORD or ~/.pgpass).
# PostgreSQL refuses to run as root: as root, initdb and pg_ctl run as the
# unprivileged `postgres` user (Debian's package creates it).
set -euo pipefail

bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then echo "$d"; return; fi
  done
  echo "scripts/postgres.sh: PostgreSQL is not installed (apt-get install -y postgresql)" >&2
  exit 2
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

case "${1:-}" in
  start)
    # The server outlives this script: let it inherit no descriptor beyond
    # 0-2 (a caller's pipe held open by it would never see end of file).
    for fd in /proc/$$/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    BIN=$(bindir)
    DIR=${2:-$(mktemp -d /tmp/secretfill-pg.XXXXXX)}
    mkdir -p "$DIR"
    if [ "$(id -u)" = 0 ]; then chown postgres "$DIR"; fi
    chmod 700 "$DIR"
    AUTH="--auth=trust"
    if [ -n "${SECRETFILL_PG_PASSWORD:-}" ]; then AUTH="--auth-local=trust --auth-host=scram-sha-256"; fi
    as_owner "$BIN/initdb" -D "$DIR/pgdata" -U postgres $AUTH --no-sync -E UTF8 >"$DIR/initdb.log" 2>&1 \
      || { cat "$DIR/initdb.log" >&2; exit 2; }
    EXTRA=""
    if [ "${SECRETFILL_PG_SSL:-}" = 1 ]; then
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=secretfill test CA" \
        -keyout "$DIR/root.key" -out "$DIR/root.crt" >/dev/null 2>&1
      openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$DIR/pgdata/server.key" -out "$DIR/server.csr" >/dev/null 2>&1
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$DIR/san.ext"
      openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/root.crt" -CAkey "$DIR/root.key" -CAcreateserial -days 2 \
        -extfile "$DIR/san.ext" -out "$DIR/pgdata/server.crt" >/dev/null 2>&1
      chmod 600 "$DIR/pgdata/server.key"
      if [ "$(id -u)" = 0 ]; then chown postgres "$DIR/pgdata/server.key" "$DIR/pgdata/server.crt"; chmod 644 "$DIR/root.crt"; fi
      EXTRA="-c ssl=on -c log_connections=on"
    fi
    echo "$EXTRA" >"$DIR/extra"
    for attempt in 1 2 3 4 5; do
      PORT=$(free_port)
      if as_owner "$BIN/pg_ctl" -D "$DIR/pgdata" -l "$DIR/server.log" -w -t 30 \
           -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 $EXTRA" start >/dev/null 2>&1; then
        break
      fi
      PORT=""
    done
    if [ -z "$PORT" ]; then cat "$DIR/server.log" >&2; exit 2; fi
    echo "$PORT" >"$DIR/port"
    if [ -n "${SECRETFILL_PG_PASSWORD:-}" ]; then
      # Password logins over TCP: the role sf (password $SECRETFILL_PG_PASSWORD) owns the
      # database secretfill, made as README's *Team server* says, through the socket.
      as_owner psql -h "$DIR" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -v pw="$SECRETFILL_PG_PASSWORD" >/dev/null <<'SQL'
CREATE ROLE sf LOGIN PASSWORD :'pw';
CREATE DATABASE secretfill OWNER sf;
SQL
      echo "postgres://sf@127.0.0.1:$PORT/secretfill" >"$DIR/url"
    else
      as_owner "$BIN/../bin/createdb" -h 127.0.0.1 -p "$PORT" -U postgres secretfill 2>/dev/null \
        || as_owner psql -h 127.0.0.1 -p "$PORT" -U postgres -c "CREATE DATABASE secretfill" >/dev/null
      echo "postgres://postgres@127.0.0.1:$PORT/secretfill" >"$DIR/url"
    fi
    cat "$DIR/url"
    ;;
  halt)
    # Stops the server but keeps the cluster (tests of a database going away).
    DIR=${2:?usage: scripts/postgres.sh halt DIR}
    as_owner "$(bindir)/pg_ctl" -D "$DIR/pgdata" -m fast -w stop >/dev/null
    ;;
  resume)
    # Starts a halted cluster again on its port.
    DIR=${2:?usage: scripts/postgres.sh resume DIR}
    for fd in /proc/$$/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    PORT=$(cat "$DIR/port")
    EXTRA=$(cat "$DIR/extra" 2>/dev/null || true)
    as_owner "$(bindir)/pg_ctl" -D "$DIR/pgdata" -l "$DIR/server.log" -w -t 30 \
      -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 $EXTRA" start >/dev/null
    ;;
  stop)
    DIR=${2:?usage: scripts/postgres.sh stop DIR}
    BIN=$(bindir)
    if [ -d "$DIR/pgdata" ]; then as_owner "$BIN/pg_ctl" -D "$DIR/pgdata" -m fast -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$DIR"
    ;;
  *)
    echo "usage: scripts/postgres.sh start [DIR] | halt DIR | resume DIR | stop DIR" >&2
    exit 64
    ;;
esac
