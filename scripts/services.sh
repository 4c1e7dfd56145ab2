#!/usr/bin/env bash
# Local PostgreSQL, Redis, Kafka (KRaft; PLAINTEXT + SSL), Dovecot IMAP and Ollama for tests and development.
#
#   scripts/services.sh up [pg|redis|kafka|imap|ollama ...]   start (all by default); re-running is a no-op
#   scripts/services.sh down [names...]                stop only what this script started
#   scripts/services.sh reset [names...]               down, then delete their data (keeps the jar/build caches)
#   scripts/services.sh restart [names...]             down, then up (data kept): fault injection in benches
#   scripts/services.sh kill pg|redis|kafka ...        SIGKILL our own instance (a crash; `up` starts it again)
#   scripts/services.sh status                         one line per service; exit 3 if any is not reachable
#   scripts/services.sh env                            `export` lines for tests: eval "$(scripts/services.sh env)"
#
# Everything listens on 127.0.0.1 and lives under .services/ (logs: .services/<name>/*.log). A service that
# already answers on its port (started by someone else) is used as it is and never stopped by this script.
# Ports: SERVICES_PG_PORT (55432), SERVICES_REDIS_PORT (56379), SERVICES_KAFKA_PORT (59092),
# SERVICES_KAFKA_CONTROLLER_PORT (59093), SERVICES_KAFKA_SSL_PORT (59094), SERVICES_IMAP_PORT (50143),
# SERVICES_OLLAMA_PORT (51434). Ollama is built from its Go module once per version (scripts/llm/build-ollama.sh,
# cached in .services/ollama/build/) and serves `support-copilot` from models/Modelfile and the GGUF that
# scripts/llm/obtain-model.sh fetched.
# As root, PostgreSQL and the Dovecot mailbox run as the unprivileged user SERVICES_USER (copilot-svc, created
# on first use), because PostgreSQL refuses to run as root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES_LINK="$ROOT/.services"

PG_PORT="${SERVICES_PG_PORT:-55432}"
REDIS_PORT="${SERVICES_REDIS_PORT:-56379}"
KAFKA_PORT="${SERVICES_KAFKA_PORT:-59092}"
KAFKA_CONTROLLER_PORT="${SERVICES_KAFKA_CONTROLLER_PORT:-59093}"
KAFKA_SSL_PORT="${SERVICES_KAFKA_SSL_PORT:-59094}"
IMAP_PORT="${SERVICES_IMAP_PORT:-50143}"
OLLAMA_PORT="${SERVICES_OLLAMA_PORT:-51434}"

PG_DB=copilot
PG_USER=copilot
PG_PASSWORD=copilot
IMAP_USER=support@example.test
IMAP_PASSWORD=support-pass

KAFKA_VERSION=3.9.1
KAFKA_JAVA_OPTS="${SERVICES_KAFKA_JAVA_OPTS:--Xmx512m -Xms256m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true}"
START_TIMEOUT="${SERVICES_START_TIMEOUT:-90}"
SVC_USER="${SERVICES_USER:-copilot-svc}"

OLLAMA_VERSION=0.17.4
OLLAMA_MODEL_NAME=support-copilot

ALL_SERVICES=(pg redis kafka imap ollama)

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

is_root() { [[ $EUID -eq 0 ]]; }

# Runs a command as the unprivileged service user when we are root, else as ourselves.
as_svc() {
  if is_root; then runuser -u "$SVC_USER" -- "$@"; else "$@"; fi
}

svc_uid() { if is_root; then id -u "$SVC_USER"; else id -u; fi; }
svc_gid() { if is_root; then id -g "$SVC_USER"; else id -g; fi; }

ensure_svc_user() {
  is_root || return 0
  id -u "$SVC_USER" >/dev/null 2>&1 && return 0
  command -v useradd >/dev/null || die "useradd is missing; cannot create the service user $SVC_USER"
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$SVC_USER" \
    || id -u "$SVC_USER" >/dev/null 2>&1 || die "could not create the service user $SVC_USER"
  log "created system user $SVC_USER for PostgreSQL and the IMAP mailbox"
}

# The state folder must be reachable by the unprivileged service users (postgres server, dovecot login and mail
# processes). A checkout under a private home (e.g. /root, mode 0700) is not, so state then lives under /var/tmp
# and .services becomes a symlink to it.
resolve_state_dir() {
  if [[ -L $SERVICES_LINK ]]; then
    SVC_DIR="$(readlink -f "$SERVICES_LINK")"
    mkdir -p -m 0755 "$SVC_DIR"
    return
  fi
  mkdir -p "$SERVICES_LINK"
  chmod 0755 "$SERVICES_LINK"
  SVC_DIR="$(cd "$SERVICES_LINK" && pwd -P)"
  is_root || return 0
  if runuser -u "$SVC_USER" -- test -x "$SVC_DIR" 2>/dev/null && runuser -u nobody -- test -x "$SVC_DIR" 2>/dev/null; then
    return 0
  fi
  local alt
  alt="/var/tmp/copilot-services-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
  if [[ -n "$(ls -A "$SERVICES_LINK")" ]]; then
    die "$SERVICES_LINK is not reachable by $SVC_USER (a parent folder is private) and is not empty; remove it or make the path traversable"
  fi
  rmdir "$SERVICES_LINK"
  mkdir -p -m 0755 "$alt"
  chmod 0755 "$alt"
  ln -s "$alt" "$SERVICES_LINK"
  SVC_DIR="$alt"
  log "checkout path is private; service state lives in $alt (symlinked from .services)"
}

# State paths are known without touching the disk, for `env` and `status`.
state_dir_readonly() {
  if [[ -e $SERVICES_LINK ]]; then SVC_DIR="$(readlink -f "$SERVICES_LINK")"; else SVC_DIR="$SERVICES_LINK"; fi
}

port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# A PID file names a live process whose command line contains the given word (guards against PID reuse).
pid_alive() {
  local file=$1 word=$2 pid
  [[ -s $file ]] || return 1
  pid="$(head -n1 "$file" | tr -dc '0-9')"
  [[ -n $pid ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$word"
}

pid_of() { head -n1 "$1" | tr -dc '0-9'; }

# Liveness of a process this run just launched: its command line is still the forking shell's until it execs,
# so the word check of pid_alive (meant for stale pid files) would call a busy machine's fresh server dead.
launched_alive() { [[ -s $1 ]] && kill -0 "$(pid_of "$1")" 2>/dev/null; }

# Each service records the port(s) it was started with, so a changed SERVICES_*_PORT restarts our instance
# instead of mistaking another server on the new port for ours.
ports_match() { [[ "$(cat "$1" 2>/dev/null)" == "$2" ]]; }

# Polls a check function for up to START_TIMEOUT seconds.
wait_until() {
  local i
  for ((i = 0; i < START_TIMEOUT * 10; i++)); do "$@" && return 0; sleep 0.1; done
  return 1
}

# Decides what to do when our own instance may be running: 0 = running and healthy, 1 = not running (start it).
# A live instance on other ports is stopped first, unless the new port is already served by someone else (that
# server is then used and ours is left alone); one that never becomes healthy is an error.
ours_running() {
  local name=$1 pidfile=$2 word=$3 portsfile=$4 ports=$5 check=$6 stop=$7
  pid_alive "$pidfile" "$word" || return 1
  if ! ports_match "$portsfile" "$ports"; then
    port_open "${ports%% *}" && return 1
    log "$name: our instance runs on other ports ($(cat "$portsfile" 2>/dev/null || echo unknown)); restarting it on $ports"
    "$stop"
    return 1
  fi
  wait_until "$check" && return 0
  die "$name: our instance (pid $(pid_of "$pidfile")) is running but not healthy; see .services logs or run: scripts/services.sh down $name"
}

show_log_tail() {
  local file
  for file in "$@"; do
    [[ -s $file ]] || continue
    printf '[services] ---- last lines of %s ----\n' "$file" >&2
    tail -n 40 "$file" >&2
    printf '[services] ----\n' >&2
  done
}

# Sends TERM, waits, then KILL.
stop_pid() {
  local pid=$1 name=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "$name (pid $pid) did not stop within 30 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

require() {
  local cmd=$1 hint=$2
  command -v "$cmd" >/dev/null 2>&1 || die "$cmd not found; install it with: apt-get install -y $hint (or run scripts/test.sh, which installs what is missing)"
}

# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL

pg_bin() {
  if [[ -n ${PG_BIN:-} ]]; then printf '%s\n' "$PG_BIN"; return; fi
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  [[ -n $d && -x $d/initdb ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; install them with: apt-get install -y postgresql"
  printf '%s\n' "$d"
}

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; }

pg_super_psql() {
  PGPASSWORD="$(cat "$SVC_DIR/pg/superuser.pass")" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
}

pg_ensure_database() {
  pg_super_psql -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
        CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
      END IF;
    END \$\$;" >/dev/null
  if [[ "$(pg_super_psql -tA -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]]; then
    pg_super_psql -c "CREATE DATABASE $PG_DB OWNER $PG_USER" >/dev/null
  fi
}

pg_up() {
  PG_BIN="$(pg_bin)"
  local dir="$SVC_DIR/pg" data="$SVC_DIR/pg/data" logf="$SVC_DIR/pg/postgres.log"
  if ours_running postgres "$dir/postgres.pid" postgres "$dir/ports" "$PG_PORT" pg_ready pg_down; then
    log "postgres: already running (pid $(pid_of "$dir/postgres.pid")) on 127.0.0.1:$PG_PORT"
    return
  fi
  if port_open "$PG_PORT"; then
    if pg_ready; then
      log "postgres: 127.0.0.1:$PG_PORT is already served by another process; using it"
      PGPASSWORD=$PG_PASSWORD "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -c 'SELECT 1' >/dev/null 2>&1 \
        || log "postgres: warning: cannot log in as $PG_USER/$PG_DB on that server"
      return
    fi
    die "postgres: port $PG_PORT is taken by something that is not PostgreSQL; set SERVICES_PG_PORT"
  fi

  mkdir -p "$dir"
  is_root && chown "$SVC_USER:" "$dir"
  chmod 0700 "$dir"
  if [[ ! -s $data/PG_VERSION ]]; then
    log "postgres: creating a cluster in $data"
    rm -rf "$data"
    local pwfile="$dir/superuser.pass"
    head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$pwfile"
    is_root && chown "$SVC_USER:" "$pwfile"
    chmod 0600 "$pwfile"
    local locale=C.UTF-8
    locale -a 2>/dev/null | grep -qix 'c.utf-\?8' || locale=C
    if ! as_svc "$PG_BIN/initdb" -D "$data" -U postgres --pwfile="$pwfile" -A scram-sha-256 \
      -E UTF8 --locale="$locale" >"$dir/initdb.log" 2>&1; then
      show_log_tail "$dir/initdb.log"
      die "postgres: initdb failed (log: $dir/initdb.log)"
    fi
  fi
  # Our PID file is copied from postmaster.pid once the server is up (pg_ctl copes with a stale postmaster.pid).
  rm -f "$dir/postgres.pid"
  : >"$logf"
  is_root && chown "$SVC_USER:" "$logf"
  # Test/dev data is disposable: no fsync, no Unix socket (path length limits, /run permissions).
  if ! as_svc "$PG_BIN/pg_ctl" -D "$data" -l "$logf" -w -t "$START_TIMEOUT" -s \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >"$dir/pg_ctl.log" 2>&1 9>&-; then
    show_log_tail "$dir/pg_ctl.log" "$logf"
    die "postgres: failed to start (log: $logf)"
  fi
  head -n1 "$data/postmaster.pid" >"$dir/postgres.pid"
  printf '%s\n' "$PG_PORT" >"$dir/ports"
  local i
  for ((i = 0; i < START_TIMEOUT * 10; i++)); do pg_ready && break; sleep 0.1; done
  pg_ready || { show_log_tail "$logf"; die "postgres: not answering pg_isready on 127.0.0.1:$PG_PORT"; }
  pg_ensure_database || { show_log_tail "$logf"; die "postgres: could not create role/database $PG_USER/$PG_DB"; }
  log "postgres: started (pid $(pid_of "$dir/postgres.pid")) on 127.0.0.1:$PG_PORT, database $PG_DB"
}

pg_down() {
  local dir="$SVC_DIR/pg"
  if pid_alive "$dir/postgres.pid" postgres; then
    PG_BIN="$(pg_bin)"
    as_svc "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 -s stop >/dev/null 2>&1 \
      || stop_pid "$(pid_of "$dir/postgres.pid")" postgres
    log "postgres: stopped"
  fi
  rm -f "$dir/postgres.pid" "$dir/ports"
}

# ---------------------------------------------------------------------------------------------------------------
# Redis

redis_ping() {
  if command -v redis-cli >/dev/null 2>&1; then
    [[ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
  else
    timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT && printf 'PING\r\n' >&3 && head -c5 <&3" 2>/dev/null | grep -q PONG
  fi
}

redis_up() {
  local dir="$SVC_DIR/redis"
  if ours_running redis "$dir/redis.pid" redis-server "$dir/ports" "$REDIS_PORT" redis_ping redis_down; then
    log "redis: already running (pid $(pid_of "$dir/redis.pid")) on 127.0.0.1:$REDIS_PORT"
    return
  fi
  if port_open "$REDIS_PORT"; then
    redis_ping || die "redis: port $REDIS_PORT is taken by something that does not answer PING; set SERVICES_REDIS_PORT"
    log "redis: 127.0.0.1:$REDIS_PORT is already served by another process; using it"
    return
  fi
  require redis-server redis-server
  mkdir -p "$dir"
  rm -f "$dir/redis.pid"
  cat >"$dir/redis.conf" <<EOF
# Written by scripts/services.sh; test/dev only: loopback, no persistence.
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize yes
supervised no
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
save ""
appendonly no
maxmemory 256mb
maxmemory-policy noeviction
EOF
  if ! redis-server "$dir/redis.conf" >"$dir/start.log" 2>&1 9>&-; then
    show_log_tail "$dir/start.log" "$dir/redis.log"
    die "redis: failed to start (log: $dir/redis.log)"
  fi
  local i
  for ((i = 0; i < START_TIMEOUT * 10; i++)); do redis_ping && break; sleep 0.1; done
  redis_ping || { show_log_tail "$dir/start.log" "$dir/redis.log"; die "redis: not answering PING on 127.0.0.1:$REDIS_PORT"; }
  for ((i = 0; i < 50; i++)); do [[ -s $dir/redis.pid ]] && break; sleep 0.1; done
  printf '%s\n' "$REDIS_PORT" >"$dir/ports"
  log "redis: started (pid $(pid_of "$dir/redis.pid")) on 127.0.0.1:$REDIS_PORT"
}

redis_down() {
  local dir="$SVC_DIR/redis"
  if pid_alive "$dir/redis.pid" redis-server; then
    stop_pid "$(pid_of "$dir/redis.pid")" redis
    log "redis: stopped"
  fi
  rm -f "$dir/redis.pid" "$dir/ports"
}

# ---------------------------------------------------------------------------------------------------------------
# Kafka (KRaft, one broker+controller), jars from Maven Central

kafka_lib() {
  local dir="$SVC_DIR/kafka" lib="$SVC_DIR/kafka/lib"
  if [[ -f $lib/.complete && -f $lib/kafka_2.13-$KAFKA_VERSION.jar ]]; then return; fi
  require mvn maven
  log "kafka: fetching Kafka $KAFKA_VERSION jars with Maven (once; cached in $lib)"
  local build="$dir/build"
  rm -rf "$build" "$lib.tmp"
  mkdir -p "$build"
  cp "$ROOT/scripts/kafka/pom.xml" "$build/pom.xml"
  if ! (cd "$build" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies -DoutputDirectory="$lib.tmp" -DincludeScope=runtime) \
    >"$dir/maven.log" 2>&1; then
    show_log_tail "$dir/maven.log"
    die "kafka: Maven could not fetch the Kafka jars (log: $dir/maven.log)"
  fi
  [[ -f $lib.tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || die "kafka: Maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing in $lib.tmp"
  rm -rf "$lib" "$build"
  mv "$lib.tmp" "$lib"
  touch "$lib/.complete"
}

# Test CA and a broker certificate for 127.0.0.1/localhost; clients trust tls/ca.pem.
kafka_tls() {
  local tls="$SVC_DIR/kafka/tls"
  if [[ -s $tls/broker.p12 && -s $tls/ca.pem && -s $tls/password ]] \
    && openssl x509 -checkend 86400 -noout -in "$tls/broker.pem" >/dev/null 2>&1; then
    return
  fi
  require openssl openssl
  log "kafka: creating a test CA and broker certificate in $tls"
  rm -rf "$tls"
  mkdir -p "$tls"
  chmod 0755 "$tls"
  local pw
  pw="$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
  printf '%s' "$pw" >"$tls/password"
  chmod 0600 "$tls/password"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 825 \
      -keyout "$tls/ca.key" -out "$tls/ca.pem" -subj "/CN=support-copilot test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -addext "subjectKeyIdentifier=hash"
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$tls/broker.key" -out "$tls/broker.csr" -subj "/CN=localhost"
    cat >"$tls/broker.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
    openssl x509 -req -sha256 -days 825 -in "$tls/broker.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
      -CAcreateserial -out "$tls/broker.pem" -extfile "$tls/broker.ext"
    openssl pkcs12 -export -name broker -in "$tls/broker.pem" -inkey "$tls/broker.key" -certfile "$tls/ca.pem" \
      -out "$tls/broker.p12" -passout "pass:$pw"
  } >"$tls/openssl.log" 2>&1 || { show_log_tail "$tls/openssl.log"; die "kafka: could not create the TLS material"; }
  # A PKCS12 truststore for Java clients; OpenSSL 3.0 cannot mark a certificate as trusted for Java, keytool can.
  if command -v keytool >/dev/null 2>&1; then
    keytool -importcert -noprompt -alias test-ca -file "$tls/ca.pem" -keystore "$tls/truststore.p12" \
      -storetype PKCS12 -storepass "$pw" >>"$tls/openssl.log" 2>&1 || log "kafka: warning: truststore not created"
  fi
  chmod 0644 "$tls/ca.pem"
}

kafka_render_config() {
  local dir="$SVC_DIR/kafka" tls="$SVC_DIR/kafka/tls" pw trust=""
  pw="$(cat "$tls/password")"
  if [[ -s $tls/truststore.p12 ]]; then
    trust="ssl.truststore.type=PKCS12\nssl.truststore.location=$tls/truststore.p12\nssl.truststore.password=$pw"
  fi
  sed -e "s|@PLAINTEXT_PORT@|$KAFKA_PORT|g" \
    -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
    -e "s|@SSL_PORT@|$KAFKA_SSL_PORT|g" \
    -e "s|@DATA_DIR@|$dir/data|g" \
    -e "s|@TLS_DIR@|$tls|g" \
    -e "s|@KEYSTORE_PASSWORD@|$pw|g" \
    -e "s|@TRUSTSTORE_LINES@|$trust|" \
    "$ROOT/scripts/kafka/server.properties.template" >"$dir/server.properties"
  chmod 0600 "$dir/server.properties"
  cp "$ROOT/scripts/kafka/log4j.properties" "$dir/log4j.properties"
}

kafka_started_in_log() { grep -q 'Kafka Server started' "$SVC_DIR/kafka/kafka.log" 2>/dev/null; }

# Sends a Kafka ApiVersions v0 request (correlation id 1) and expects a reply with error code 0; a KRaft broker
# only answers requests once its start-up has finished.
kafka_probe() {
  local reply
  reply="$(timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$1"' || exit 1
    printf "\x00\x00\x00\x0f\x00\x12\x00\x00\x00\x00\x00\x01\x00\x05probe" >&3
    head -c 10 <&3 | od -An -tx1' 2>/dev/null)" || return 1
  [[ "$(echo $reply)" == *" 00 00 00 01 00 00" ]]
}

# TLS handshake on the SSL listener, verified against our test CA for the IP address clients use.
kafka_tls_ok() {
  local ca="$SVC_DIR/kafka/tls/ca.pem"
  [[ -s $ca ]] || return 1
  timeout 5 openssl s_client -connect "127.0.0.1:$KAFKA_SSL_PORT" -CAfile "$ca" -verify_return_error \
    -verify_ip 127.0.0.1 </dev/null >/dev/null 2>&1
}

kafka_ready() { kafka_probe "$KAFKA_PORT" && port_open "$KAFKA_SSL_PORT"; }

# Launches the broker without waiting; kafka_wait finishes the job, so the JVM boots while the rest starts.
KAFKA_LAUNCHED=0
kafka_ports() { printf '%s\n' "$KAFKA_PORT $KAFKA_CONTROLLER_PORT $KAFKA_SSL_PORT"; }
kafka_start() {
  local dir="$SVC_DIR/kafka"
  if pid_alive "$dir/kafka.pid" kafka.Kafka; then
    if ! ports_match "$dir/ports" "$(kafka_ports)"; then
      if ! port_open "$KAFKA_PORT"; then
        log "kafka: our broker runs on other ports ($(cat "$dir/ports" 2>/dev/null || echo unknown)); restarting it"
        kafka_down
      fi
    elif kafka_ready; then
      log "kafka: already running (pid $(pid_of "$dir/kafka.pid")) on 127.0.0.1:$KAFKA_PORT (SSL $KAFKA_SSL_PORT)"
      return
    else
      KAFKA_LAUNCHED=1
      return
    fi
  fi
  if port_open "$KAFKA_PORT"; then
    kafka_probe "$KAFKA_PORT" || die "kafka: port $KAFKA_PORT is taken by something that does not answer Kafka requests; set SERVICES_KAFKA_PORT"
    log "kafka: 127.0.0.1:$KAFKA_PORT is already served by another process; using it"
    port_open "$KAFKA_SSL_PORT" || log "kafka: warning: nothing answers on the SSL port $KAFKA_SSL_PORT"
    return
  fi
  local p
  for p in "$KAFKA_CONTROLLER_PORT" "$KAFKA_SSL_PORT"; do
    port_open "$p" && die "kafka: port $p is taken by another process; set SERVICES_KAFKA_CONTROLLER_PORT / SERVICES_KAFKA_SSL_PORT"
  done
  require java default-jdk-headless
  mkdir -p "$dir"
  kafka_lib
  kafka_tls
  kafka_render_config
  if [[ ! -s $dir/cluster-id ]]; then
    # 16 random bytes, URL-safe base64 without padding: the format of kafka.tools.StorageTool random-uuid. It may
    # start with '-', so it is passed as --cluster-id=VALUE (as a separate argument it would read as an option).
    head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$dir/cluster-id"
  fi
  if [[ ! -s $dir/data/meta.properties ]]; then
    mkdir -p "$dir/data"
    if ! java -Xmx256m -Dlog4j.configuration="file:$dir/log4j.properties" -cp "$dir/lib/*" kafka.tools.StorageTool format \
      --cluster-id="$(cat "$dir/cluster-id")" -c "$dir/server.properties" --ignore-formatted >"$dir/format.log" 2>&1; then
      show_log_tail "$dir/format.log"
      die "kafka: formatting the KRaft storage failed (log: $dir/format.log)"
    fi
  fi
  [[ -f $dir/kafka.log ]] && mv -f "$dir/kafka.log" "$dir/kafka.log.1"
  rm -f "$dir/kafka.pid"
  # shellcheck disable=SC2086 # KAFKA_JAVA_OPTS is a list of JVM flags.
  setsid nohup java $KAFKA_JAVA_OPTS -Dlog4j.configuration="file:$dir/log4j.properties" \
    -Dkafka.logs.dir="$dir" -cp "$dir/lib/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/kafka.log" 2>&1 </dev/null 9>&- &
  echo $! >"$dir/kafka.pid"
  kafka_ports >"$dir/ports"
  KAFKA_LAUNCHED=1
  log "kafka: starting (pid $!)"
}

kafka_wait() {
  [[ $KAFKA_LAUNCHED == 1 ]] || return 0
  local dir="$SVC_DIR/kafka" i
  for ((i = 0; i < START_TIMEOUT * 5; i++)); do
    if ! launched_alive "$dir/kafka.pid"; then
      show_log_tail "$dir/kafka.log"
      rm -f "$dir/kafka.pid"
      die "kafka: the broker exited during start-up (log: $dir/kafka.log)"
    fi
    if kafka_started_in_log && kafka_ready; then
      # The handshake can miss its 5 s timeout on a busy machine: a few tries before calling the listener broken.
      local t
      for ((t = 0; t < 6; t++)); do kafka_tls_ok && break; sleep 1; done
      kafka_tls_ok || { show_log_tail "$dir/kafka.log"; die "kafka: the SSL listener on $KAFKA_SSL_PORT does not present a certificate signed by $SVC_DIR/kafka/tls/ca.pem"; }
      log "kafka: started (pid $(pid_of "$dir/kafka.pid")) on 127.0.0.1:$KAFKA_PORT, SSL 127.0.0.1:$KAFKA_SSL_PORT"
      return
    fi
    sleep 0.2
  done
  show_log_tail "$dir/kafka.log"
  die "kafka: not ready after ${START_TIMEOUT}s (log: $dir/kafka.log); it is still running as pid $(pid_of "$dir/kafka.pid")"
}

kafka_down() {
  local dir="$SVC_DIR/kafka"
  if pid_alive "$dir/kafka.pid" kafka.Kafka; then
    stop_pid "$(pid_of "$dir/kafka.pid")" kafka
    log "kafka: stopped"
  fi
  rm -f "$dir/kafka.pid" "$dir/ports"
}

# ---------------------------------------------------------------------------------------------------------------
# Dovecot IMAP (plain text, loopback only), with its own configuration so the system Dovecot is untouched

imap_base_dir() {
  # Dovecot puts Unix sockets in base_dir; keep the path well under the 108-byte socket limit.
  local base="$SVC_DIR/dovecot/run"
  if ((${#base} > 60)); then base="/tmp/copilot-dovecot-$(printf '%s' "$SVC_DIR" | sha256sum | cut -c1-12)"; fi
  printf '%s\n' "$base"
}

# Logs in with the test user over a raw socket (no curl or python needed).
imap_login_ok() {
  timeout 5 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$IMAP_PORT"' || exit 1
    IFS= read -r line <&3 || exit 1
    [[ $line == "* OK"* ]] || exit 1
    printf "a1 LOGIN \"%s\" \"%s\"\r\n" "$1" "$2" >&3
    while IFS= read -r line <&3; do
      case $line in
        "a1 OK"*) printf "a2 LOGOUT\r\n" >&3; exit 0 ;;
        "a1 "*) exit 1 ;;
      esac
    done
    exit 1' _ "$IMAP_USER" "$IMAP_PASSWORD" 2>/dev/null
}

imap_greets() {
  timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$IMAP_PORT"' && IFS= read -r line <&3 && [[ $line == "* OK"* ]]' 2>/dev/null
}

imap_up() {
  local dir="$SVC_DIR/dovecot" base
  base="$(imap_base_dir)"
  if ours_running imap "$base/master.pid" dovecot "$dir/ports" "$IMAP_PORT" imap_greets imap_down; then
    log "imap: already running (pid $(pid_of "$base/master.pid")) on 127.0.0.1:$IMAP_PORT"
    return
  fi
  if port_open "$IMAP_PORT"; then
    imap_greets || die "imap: port $IMAP_PORT is taken by something that is not an IMAP server; set SERVICES_IMAP_PORT"
    log "imap: 127.0.0.1:$IMAP_PORT is already served by another process; using it"
    imap_login_ok || log "imap: warning: login as $IMAP_USER fails on that server"
    return
  fi
  local dovecot_bin
  dovecot_bin="$(command -v dovecot || true)"
  [[ -n $dovecot_bin ]] || { [[ -x /usr/sbin/dovecot ]] && dovecot_bin=/usr/sbin/dovecot; }
  [[ -n $dovecot_bin && -x /usr/lib/dovecot/imap ]] \
    || die "dovecot IMAP not found; install it with: apt-get install -y dovecot-imapd"
  local uid gid owner
  uid="$(svc_uid)"
  gid="$(svc_gid)"
  owner="$(id -un "$uid")"
  mkdir -p "$dir/mail" "$dir/state" "$base"
  chmod 0755 "$dir" "$dir/state"
  is_root && chown -R "$uid:$gid" "$dir/mail"
  chmod 0700 "$dir/mail"
  printf '%s:{PLAIN}%s:%s:%s::%s/mail/%s::\n' "$IMAP_USER" "$IMAP_PASSWORD" "$uid" "$gid" "$dir" "$IMAP_USER" >"$dir/passwd"
  chmod 0644 "$dir/passwd"

  local users
  if is_root; then
    id dovecot >/dev/null 2>&1 && id dovenull >/dev/null 2>&1 \
      || die "imap: the dovecot and dovenull system users are missing; reinstall dovecot-core"
    users="default_internal_user = dovecot
default_login_user = dovenull"
  else
    # Rootless Dovecot: every process runs as us and nothing is chrooted.
    users="default_internal_user = $owner
default_internal_group = $(id -gn)
default_login_user = $owner
service imap-login {
  chroot =
}
service anvil {
  chroot =
}"
  fi
  cat >"$dir/dovecot.conf" <<EOF
# Written by scripts/services.sh; test/dev only: plain-text IMAP on loopback with one passwd-file user.
instance_name = copilot-dovecot
base_dir = $base
state_dir = $dir/state
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = $dir/dovecot.log
mail_location = maildir:~/Maildir
first_valid_uid = $uid
last_valid_uid = $uid
first_valid_gid = $gid
last_valid_gid = $gid
$users

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $dir/passwd
}

namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Trash {
    special_use = \\Trash
  }
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0600
  }
}
EOF
  rm -f "$base/master.pid"
  if ! "$dovecot_bin" -c "$dir/dovecot.conf" >"$dir/start.log" 2>&1 9>&-; then
    show_log_tail "$dir/start.log" "$dir/dovecot.log"
    die "imap: dovecot failed to start (log: $dir/dovecot.log)"
  fi
  local i
  for ((i = 0; i < START_TIMEOUT * 10; i++)); do imap_greets && break; sleep 0.1; done
  imap_greets || { show_log_tail "$dir/start.log" "$dir/dovecot.log"; die "imap: no IMAP greeting on 127.0.0.1:$IMAP_PORT"; }
  imap_login_ok || { show_log_tail "$dir/dovecot.log"; die "imap: login as $IMAP_USER failed (log: $dir/dovecot.log)"; }
  ln -sf "$base/master.pid" "$dir/dovecot.pid"
  printf '%s\n' "$IMAP_PORT" >"$dir/ports"
  log "imap: started (pid $(pid_of "$base/master.pid")) on 127.0.0.1:$IMAP_PORT, user $IMAP_USER"
}

imap_down() {
  local dir="$SVC_DIR/dovecot" base
  base="$(imap_base_dir)"
  if pid_alive "$base/master.pid" dovecot; then
    stop_pid "$(pid_of "$base/master.pid")" dovecot
    log "imap: stopped"
  fi
  rm -f "$base/master.pid" "$dir/dovecot.pid" "$dir/ports"
}

# ---------------------------------------------------------------------------------------------------------------
# Ollama, built from its Go module (scripts/llm/build-ollama.sh), serving the GGUF of models/llm/ as support-copilot

ollama_dir() { printf '%s\n' "$SVC_DIR/ollama"; }

# The binary built for OLLAMA_VERSION (built on first use; later runs only check the cache).
ollama_bin() {
  local out
  out="$(OLLAMA_BUILD_VERSION=$OLLAMA_VERSION bash "$ROOT/scripts/llm/build-ollama.sh" "$(ollama_dir)/build" 9>&-)" || die "ollama: building the server failed (see the lines above)"
  printf '%s\n' "${out##*$'\n'}"
}

# GET /api/version over a raw socket (no curl needed); Ollama answers {"version":"..."}.
ollama_api_ok() {
  timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$OLLAMA_PORT"' || exit 1
    printf "GET /api/version HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
    cat <&3' 2>/dev/null | grep -q '"version"'
}

# Where the Modelfile's FROM points (relative paths are relative to models/).
ollama_gguf() {
  local from
  from="$(sed -n 's/^FROM[[:space:]]\{1,\}//p' "$ROOT/models/Modelfile" | head -n1)"
  [[ -n $from ]] || die "ollama: models/Modelfile has no FROM line"
  case $from in /*) printf '%s\n' "$from" ;; *) printf '%s\n' "$ROOT/models/${from#./}" ;; esac
}

# Registers support-copilot from models/Modelfile unless the server already has it from the same Modelfile and GGUF.
ollama_create_model() {
  local bin=$1 dir gguf stamp
  dir="$(ollama_dir)"
  gguf="$(ollama_gguf)"
  [[ -f $gguf ]] || die "ollama: $gguf is missing; fetch it first with scripts/llm/obtain-model.sh (scripts/test.sh does)"
  stamp="$OLLAMA_VERSION $OLLAMA_PORT $(sha256sum <"$ROOT/models/Modelfile" | cut -c1-16) $(stat -L -c '%s %Y' "$gguf")"
  local listed
  listed="$(OLLAMA_HOST="127.0.0.1:$OLLAMA_PORT" "$bin" list 2>/dev/null || true)"
  if [[ "$(cat "$dir/model.stamp" 2>/dev/null)" == "$stamp" && $'\n'$listed == *$'\n'"$OLLAMA_MODEL_NAME:"* ]]; then
    return
  fi
  log "ollama: creating $OLLAMA_MODEL_NAME from models/Modelfile ($(basename "$gguf"))"
  if ! (cd "$ROOT/models" && OLLAMA_HOST="127.0.0.1:$OLLAMA_PORT" "$bin" create "$OLLAMA_MODEL_NAME" -f Modelfile) \
    >"$dir/create.log" 2>&1 </dev/null; then
    show_log_tail "$dir/create.log"
    die "ollama: ollama create $OLLAMA_MODEL_NAME failed (log: $dir/create.log)"
  fi
  printf '%s\n' "$stamp" >"$dir/model.stamp"
}

ollama_up() {
  local dir bin
  dir="$(ollama_dir)"
  mkdir -p "$dir"
  bin="$(ollama_bin)"
  if ours_running ollama "$dir/ollama.pid" "ollama serve" "$dir/ports" "$OLLAMA_PORT" ollama_api_ok ollama_down; then
    log "ollama: already running (pid $(pid_of "$dir/ollama.pid")) on 127.0.0.1:$OLLAMA_PORT"
    ollama_create_model "$bin"
    return
  fi
  if port_open "$OLLAMA_PORT"; then
    ollama_api_ok || die "ollama: port $OLLAMA_PORT is taken by something that is not Ollama; set SERVICES_OLLAMA_PORT"
    log "ollama: 127.0.0.1:$OLLAMA_PORT is already served by another process; using it"
    ollama_create_model "$bin"
    return
  fi
  mkdir -p "$dir/models" "$dir/home"
  [[ -f $dir/ollama.log ]] && mv -f "$dir/ollama.log" "$dir/ollama.log.1"
  rm -f "$dir/ollama.pid"
  # Two parallel requests per model (the drafting stage overlaps drafts); HOME keeps Ollama's key pair in .services.
  HOME="$dir/home" OLLAMA_HOST="127.0.0.1:$OLLAMA_PORT" OLLAMA_MODELS="$dir/models" OLLAMA_NUM_PARALLEL=2 \
    OLLAMA_MAX_LOADED_MODELS=1 OLLAMA_NOPRUNE=1 \
    setsid nohup "$bin" serve >"$dir/ollama.log" 2>&1 </dev/null 9>&- &
  echo $! >"$dir/ollama.pid"
  printf '%s\n' "$OLLAMA_PORT" >"$dir/ports"
  local i
  for ((i = 0; i < START_TIMEOUT * 10; i++)); do
    ollama_api_ok && break
    launched_alive "$dir/ollama.pid" || { show_log_tail "$dir/ollama.log"; die "ollama: the server exited during start-up (log: $dir/ollama.log)"; }
    sleep 0.1
  done
  ollama_api_ok || { show_log_tail "$dir/ollama.log"; die "ollama: not answering on 127.0.0.1:$OLLAMA_PORT (log: $dir/ollama.log)"; }
  ollama_create_model "$bin"
  log "ollama: started (pid $(pid_of "$dir/ollama.pid")) on 127.0.0.1:$OLLAMA_PORT, model $OLLAMA_MODEL_NAME"
}

ollama_down() {
  local dir
  dir="$(ollama_dir)"
  if pid_alive "$dir/ollama.pid" "ollama serve"; then
    stop_pid "$(pid_of "$dir/ollama.pid")" ollama
    log "ollama: stopped"
  fi
  rm -f "$dir/ollama.pid" "$dir/ports"
}

# ---------------------------------------------------------------------------------------------------------------

selected() {
  local want=$1; shift
  local s
  for s in "$@"; do [[ $s == "$want" ]] && return 0; done
  return 1
}

# Maps user-facing names (postgres, dovecot, ...) onto pg|redis|kafka|imap; fills the global NAMES array.
NAMES=()
normalize_names() {
  local n
  for n in "$@"; do
    case $n in
      pg | postgres | postgresql) NAMES+=(pg) ;;
      redis) NAMES+=(redis) ;;
      kafka) NAMES+=(kafka) ;;
      imap | dovecot) NAMES+=(imap) ;;
      ollama) NAMES+=(ollama) ;;
      *) die "unknown service '$n' (known: pg redis kafka imap ollama)" ;;
    esac
  done
}

# Serialises concurrent up/down runs (e.g. test.sh and run.sh). Daemons are started with fd 9 closed so they
# do not keep holding the lock.
lock() {
  exec 9>"$SVC_DIR/.lock"
  if ! flock -n 9; then
    log "waiting for another services.sh run to finish (lock: $SVC_DIR/.lock)"
    flock -w 600 9 || die "another services.sh is still running after 10 min (lock: $SVC_DIR/.lock)"
  fi
}

cmd_up() {
  local names=("$@")
  ((${#names[@]})) || names=("${ALL_SERVICES[@]}")
  ensure_svc_user
  resolve_state_dir
  lock
  local t0=$SECONDS
  selected kafka "${names[@]}" && kafka_start
  selected pg "${names[@]}" && pg_up
  selected redis "${names[@]}" && redis_up
  selected imap "${names[@]}" && imap_up
  selected ollama "${names[@]}" && ollama_up
  selected kafka "${names[@]}" && kafka_wait
  log "up: ready in $((SECONDS - t0)) s"
}

cmd_down() {
  local names=("$@")
  ((${#names[@]})) || names=("${ALL_SERVICES[@]}")
  state_dir_readonly
  [[ -d $SVC_DIR ]] || { log "nothing to stop"; return; }
  lock
  selected ollama "${names[@]}" && ollama_down
  selected kafka "${names[@]}" && kafka_down
  selected imap "${names[@]}" && imap_down
  selected redis "${names[@]}" && redis_down
  selected pg "${names[@]}" && pg_down
  return 0
}

# Stops our services and deletes their data (databases, topics, mailbox, Ollama models); keeps the Kafka jar and
# Ollama build caches.
cmd_reset() {
  local names=("$@")
  ((${#names[@]})) || names=("${ALL_SERVICES[@]}")
  cmd_down "${names[@]}"
  state_dir_readonly
  [[ -d $SVC_DIR ]] || return 0
  selected kafka "${names[@]}" && rm -rf "$SVC_DIR/kafka/data" "$SVC_DIR/kafka/cluster-id" "$SVC_DIR/kafka/tls"
  selected imap "${names[@]}" && rm -rf "$SVC_DIR/dovecot/mail" "$SVC_DIR/dovecot/state"
  selected redis "${names[@]}" && rm -rf "$SVC_DIR/redis"
  selected pg "${names[@]}" && rm -rf "$SVC_DIR/pg"
  selected ollama "${names[@]}" && rm -rf "$SVC_DIR/ollama/models" "$SVC_DIR/ollama/home" "$SVC_DIR/ollama/model.stamp"
  log "reset: data removed for ${names[*]}"
}

# SIGKILLs our own instance of each named service (never one started by someone else): a crash, for fault
# injection. Its data is kept; `up` starts it again and it recovers from its own log.
cmd_kill() {
  (($#)) || die "kill needs service names (pg redis kafka)"
  state_dir_readonly
  local n pidfile word
  for n in "$@"; do
    case $n in
      pg) pidfile="$SVC_DIR/pg/postgres.pid" word=postgres ;;
      redis) pidfile="$SVC_DIR/redis/redis.pid" word=redis-server ;;
      kafka) pidfile="$SVC_DIR/kafka/kafka.pid" word=kafka.Kafka ;;
      *) die "kill supports pg, redis and kafka" ;;
    esac
    if pid_alive "$pidfile" "$word"; then
      kill -KILL "$(pid_of "$pidfile")"
      log "$n: killed (SIGKILL) pid $(pid_of "$pidfile")"
    else
      log "$n: no instance of ours is running"
    fi
  done
}

status_line() {
  local name=$1 port=$2 pidfile=$3 word=$4 portsfile=$5 ports=$6 ready=$7
  local ours=false who="stopped"
  pid_alive "$pidfile" "$word" && ports_match "$portsfile" "$ports" && ours=true
  if $ready; then
    if $ours; then who="running (pid $(pid_of "$pidfile"), started by services.sh)"
    else who="running (external, not managed by services.sh)"; fi
    printf '%-9s %-6s %s\n' "$name" "$port" "$who"
    return 0
  fi
  if $ours; then who="starting or unhealthy (pid $(pid_of "$pidfile"))"
  elif pid_alive "$pidfile" "$word"; then who="stopped here; our instance (pid $(pid_of "$pidfile")) runs on $(cat "$portsfile" 2>/dev/null)"; fi
  printf '%-9s %-6s %s\n' "$name" "$port" "$who"
  return 1
}

cmd_status() {
  state_dir_readonly
  local rc=0
  local pg_ok=false redis_ok=false kafka_ok=false imap_ok=false
  PG_BIN="$(pg_bin 2>/dev/null || true)"
  if [[ -n $PG_BIN ]]; then pg_ready && pg_ok=true; elif port_open "$PG_PORT"; then pg_ok=true; fi
  redis_ping && redis_ok=true
  kafka_ready && kafka_ok=true
  imap_greets && imap_ok=true
  status_line postgres "$PG_PORT" "$SVC_DIR/pg/postgres.pid" postgres "$SVC_DIR/pg/ports" "$PG_PORT" $pg_ok || rc=3
  status_line redis "$REDIS_PORT" "$SVC_DIR/redis/redis.pid" redis-server "$SVC_DIR/redis/ports" "$REDIS_PORT" $redis_ok || rc=3
  status_line kafka "$KAFKA_PORT" "$SVC_DIR/kafka/kafka.pid" kafka.Kafka "$SVC_DIR/kafka/ports" "$(kafka_ports)" $kafka_ok || rc=3
  if $kafka_ok; then
    if kafka_tls_ok; then printf '%-9s %-6s %s\n' kafka-ssl "$KAFKA_SSL_PORT" "TLS ok (CA $SVC_DIR/kafka/tls/ca.pem)"
    else printf '%-9s %-6s %s\n' kafka-ssl "$KAFKA_SSL_PORT" "TLS handshake against our CA fails"; rc=3; fi
  fi
  status_line imap "$IMAP_PORT" "$(imap_base_dir)/master.pid" dovecot "$SVC_DIR/dovecot/ports" "$IMAP_PORT" $imap_ok || rc=3
  ollama_status || rc=3
  return $rc
}

# Ollama's status line (the model itself is checked by `up`, which creates it when missing).
ollama_status() {
  local ok=false
  ollama_api_ok && ok=true
  status_line ollama "$OLLAMA_PORT" "$SVC_DIR/ollama/ollama.pid" "ollama serve" "$SVC_DIR/ollama/ports" "$OLLAMA_PORT" $ok
}

cmd_env() {
  state_dir_readonly
  local kv
  for kv in \
    "KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT" \
    "KAFKA_SSL_BROKERS=127.0.0.1:$KAFKA_SSL_PORT" \
    "KAFKA_SSL_CA_FILE=$SVC_DIR/kafka/tls/ca.pem" \
    "REDIS_URL=redis://127.0.0.1:$REDIS_PORT" \
    "DATABASE_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB" \
    "IMAP_HOST=127.0.0.1" \
    "IMAP_PORT=$IMAP_PORT" \
    "IMAP_USER=$IMAP_USER" \
    "IMAP_PASSWORD=$IMAP_PASSWORD" \
    "OLLAMA_HOST=http://127.0.0.1:$OLLAMA_PORT" \
    "OLLAMA_MODEL=$OLLAMA_MODEL_NAME" \
    "SERVICES_OLLAMA_BIN=$SVC_DIR/ollama/build/$OLLAMA_VERSION/bin/ollama" \
    "SERVICES_OLLAMA_MODELS=$SVC_DIR/ollama/models"; do
    printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
  done
}

usage() {
  sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    up) normalize_names "$@"; cmd_up "${NAMES[@]}" ;;
    down) normalize_names "$@"; cmd_down "${NAMES[@]}" ;;
    reset) normalize_names "$@"; cmd_reset "${NAMES[@]}" ;;
    restart) normalize_names "$@"; cmd_down "${NAMES[@]}"; cmd_up "${NAMES[@]}" ;;
    kill) normalize_names "$@"; cmd_kill "${NAMES[@]}" ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) usage ;;
  esac
}

main "$@"
