#!/usr/bin/env bash
# Make a Docker engine and a local PostgreSQL image available for opscheck's "testcontainers" provider.
#
#   1. installs Debian's docker.io when `docker` or `dockerd` is missing;
#   2. starts dockerd in the background (log: /var/log/dockerd.log) when the daemon does not answer;
#   3. builds the image opscheck/postgres:15-local (also tagged postgres:15-local) when it is missing, by
#      `docker import` of a root filesystem assembled from this machine's own PostgreSQL 15 installation:
#      no registry is needed (none can be reached here).
#
# Safe to run again: every step is skipped when its result is already there (the image is rebuilt when
# this machine's PostgreSQL version differs from the one in it). Needs root for steps 1 and 2.
#
#   scripts/docker-postgres.sh            # ensure engine + image
#   scripts/docker-postgres.sh --rebuild  # rebuild the image even if it exists
#
# The image behaves like the official postgres image for what opscheck uses: POSTGRES_USER (default
# postgres), POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (default: the
# user name), *.sql files in /docker-entrypoint-initdb.d, data in $PGDATA (/var/lib/postgresql/data),
# TCP connections with scram-sha-256 from anywhere, server log on stderr, client tools on PATH.
set -euo pipefail

PG_MAJOR=15
IMAGE="opscheck/postgres:${PG_MAJOR}-local"
ALIAS="postgres:${PG_MAJOR}-local"
PG_LIB="/usr/lib/postgresql/${PG_MAJOR}"
PG_SHARE="/usr/share/postgresql/${PG_MAJOR}"
PG_UID=999
PG_GID=999
DOCKER_SOCK=/var/run/docker.sock
DOCKER_PID=/var/run/docker.pid
DOCKERD_LOG=/var/log/dockerd.log
DOCKERD_WAIT=60

rebuild=0
for arg in "$@"; do
  case "$arg" in
    --rebuild) rebuild=1 ;;
    -h | --help)
      awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
      exit 0
      ;;
    *)
      echo "docker-postgres: unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

say() { echo "docker-postgres: $*"; }
died=0
die() {
  echo "docker-postgres: ERROR: $*" >&2
  died=1
  exit 1
}
on_exit() {
  local rc=$?
  [ -z "${work:-}" ] || rm -rf "$work"
  if [ "$rc" -ne 0 ] && [ "$died" -eq 0 ]; then
    echo "docker-postgres: ERROR: a command failed (exit $rc); nothing was left half-built" >&2
  fi
}
work=""
trap on_exit EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "$1 needs root; run: sudo $0"
}

# ---------------------------------------------------------------------------------------- 1. docker.io

if ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
  need_root "installing docker.io"
  say "installing docker.io (docker or dockerd is missing)"
  t0=$(now)
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null \
    || die "apt-get install docker.io failed"
  command -v dockerd >/dev/null 2>&1 || die "docker.io is installed but dockerd is still not on PATH"
  say "docker.io installed in $(since "$t0") s"
fi

# ---------------------------------------------------------------------------------------- 2. dockerd

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

if docker_answers; then
  say "Docker daemon answers at $DOCKER_SOCK"
else
  if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != "unix://$DOCKER_SOCK" ]; then
    die "DOCKER_HOST=$DOCKER_HOST does not answer; this script only starts a local dockerd (unset DOCKER_HOST)"
  fi
  need_root "starting dockerd"
  if [ -f "$DOCKER_PID" ]; then
    old=$(cat "$DOCKER_PID" 2>/dev/null || true)
    if [ -n "$old" ] && [ -d "/proc/$old" ] && grep -q dockerd "/proc/$old/comm" 2>/dev/null; then
      die "dockerd (pid $old) is running but does not answer on $DOCKER_SOCK; see $DOCKERD_LOG"
    fi
    say "removing stale $DOCKER_PID"
    rm -f "$DOCKER_PID"
  fi
  say "starting dockerd (log: $DOCKERD_LOG)"
  t0=$(now)
  # its own session, all descriptors redirected: it outlives this script and holds none of its pipes
  setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  dockerd_pid=$!
  deadline=$((SECONDS + DOCKERD_WAIT))
  until [ -S "$DOCKER_SOCK" ] && docker_answers; do
    if ! kill -0 "$dockerd_pid" 2>/dev/null; then
      tail -n 20 "$DOCKERD_LOG" >&2 || true
      die "dockerd exited during startup; see $DOCKERD_LOG (last lines above)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$DOCKERD_LOG" >&2 || true
      die "dockerd (pid $dockerd_pid) did not answer on $DOCKER_SOCK within ${DOCKERD_WAIT} s; see $DOCKERD_LOG"
    fi
    sleep 0.5
  done
  say "dockerd (pid $dockerd_pid) answered after $(since "$t0") s"
fi

# ---------------------------------------------------------------------------------------- 3. the image

machine_version() {
  "$PG_LIB/bin/postgres" --version 2>/dev/null | sed -n 's/.*(PostgreSQL) \([0-9][0-9.]*\).*/\1/p'
}

if [ "$rebuild" -eq 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  built=$(docker image inspect -f '{{ index .Config.Labels "org.opscheck.postgres-version" }}' "$IMAGE" 2>/dev/null || true)
  have=$(machine_version || true)
  if [ -n "$have" ] && [ "$built" != "$have" ]; then
    say "image $IMAGE holds PostgreSQL ${built:-unknown}, this machine has $have: rebuilding"
  else
    docker image inspect "$ALIAS" >/dev/null 2>&1 || docker tag "$IMAGE" "$ALIAS"
    say "image $IMAGE (PostgreSQL ${built:-unknown}) is present (--rebuild to build it again)"
    say "ready"
    exit 0
  fi
fi

[ -x "$PG_LIB/bin/postgres" ] || die "no PostgreSQL $PG_MAJOR server in $PG_LIB; install it: apt-get install -y postgresql-$PG_MAJOR"
for tool in initdb pg_ctl psql; do
  [ -x "$PG_LIB/bin/$tool" ] || die "$PG_LIB/bin/$tool is missing; install postgresql-$PG_MAJOR"
done
command -v ldd >/dev/null 2>&1 || die "ldd is missing (package libc-bin)"

previous=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
say "building $IMAGE from $PG_LIB"
t0=$(now)
work=$(mktemp -d /tmp/opscheck-pgimage.XXXXXX)
root="$work/rootfs"

# merged-/usr layout like Debian 12: /bin, /lib, /lib64, /sbin are links into /usr
mkdir -p "$root"/usr/{bin,sbin,lib,lib64,local/bin} "$root"/{etc,tmp,root,var/run/postgresql,var/lib/postgresql/data} \
  "$root/docker-entrypoint-initdb.d" "$root/usr/share"
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
chmod 1777 "$root/tmp"

# PostgreSQL itself; the LLVM JIT provider is left out (it drags in a 110 MB libLLVM; jit=off below)
mkdir -p "$root$PG_LIB" "$root$PG_SHARE"
cp -a "$PG_LIB/." "$root$PG_LIB/"
rm -rf "$root$PG_LIB/lib/llvmjit.so" "$root$PG_LIB/lib/llvmjit_types.bc" "$root$PG_LIB/lib/bitcode"
cp -a "$PG_SHARE/." "$root$PG_SHARE/"
rm -rf "$root$PG_SHARE/man"
[ -d /usr/share/zoneinfo ] && cp -a /usr/share/zoneinfo "$root/usr/share/"
# the C.UTF-8 locale (what `locale -a` finds, so initdb stops warning about missing locales)
if [ -d /usr/lib/locale/C.utf8 ]; then
  mkdir -p "$root/usr/lib/locale" && cp -a /usr/lib/locale/C.utf8 "$root/usr/lib/locale/"
fi

# the few OS tools the entrypoint and pg_ctl use (pg_ctl starts the server through /bin/sh)
sh_real=$(readlink -f /bin/sh)
tools=("$sh_real")
for t in setpriv rm id chown chmod mkdir cat ls env locale; do
  p=$(command -v "$t") || die "$t is missing on this machine"
  tools+=("$(readlink -f "$p")")
done
for p in "${tools[@]}"; do cp -L "$p" "$root/usr/bin/"; done
ln -sf "$(basename "$sh_real")" "$root/usr/bin/sh"

# every shared library those binaries and PostgreSQL's own modules load, plus the dynamic loader
copy_lib() { # copy $1 (a path as ldd prints it) under its own name into the real directory it lives in
  local dir
  dir=$(readlink -f "$(dirname "$1")")
  mkdir -p "$root$dir"
  [ -e "$root$dir/$(basename "$1")" ] || cp -L "$1" "$root$dir/"
}
elf_files=("${tools[@]}")
while IFS= read -r -d '' f; do elf_files+=("$f"); done \
  < <(find "$root$PG_LIB/bin" "$root$PG_LIB/lib" -maxdepth 1 -type f \( -perm -u+x -o -name '*.so' \) -print0)
declare -A seen_lib=()
for f in "${elf_files[@]}"; do
  out=$(ldd "$f" 2>&1) || continue # scripts and static files: nothing to copy
  if grep -q 'not found' <<<"$out"; then
    die "ldd $f: $(grep 'not found' <<<"$out" | tr -s ' \t' ' ' | paste -sd, -)"
  fi
  while read -r lib; do
    [ -n "$lib" ] && [ -z "${seen_lib[$lib]:-}" ] || continue
    seen_lib[$lib]=1
    copy_lib "$lib"
  done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out")
done
# name service: passwd/group lookups through the files built into glibc
cat >"$root/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/sh
postgres:x:${PG_UID}:${PG_GID}:PostgreSQL administrator:/var/lib/postgresql:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$root/etc/group" <<EOF
root:x:0:
postgres:x:${PG_GID}:
nogroup:x:65534:
EOF
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"

cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'ENTRYPOINT'
#!/bin/sh
# Entry point of opscheck's local PostgreSQL image (a small work-alike of the official image's one).
set -eu

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@" # any other command (psql, pg_dump, sh, ...) runs as given
fi

PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql /var/lib/postgresql
  chmod 700 "$PGDATA"
  chmod 2775 /var/run/postgresql
  export HOME=/var/lib/postgresql USER=postgres LOGNAME=postgres
  exec setpriv --reuid=postgres --regid=postgres --clear-groups "$0" "$@"
fi

log() { echo "entrypoint: $*" >&2; }

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    log "error: POSTGRES_PASSWORD is not set (or set POSTGRES_HOST_AUTH_METHOD=trust)"
    exit 1
  fi
  log "initializing a database cluster in $PGDATA for superuser $POSTGRES_USER"
  pwfile=/tmp/.pgpass-init
  (umask 077 && printf '%s\n' "${POSTGRES_PASSWORD:-unused}" >"$pwfile")
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 --locale=C -N \
    --auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD" ${POSTGRES_INITDB_ARGS:-} >&2
  rm -f "$pwfile"
  printf '\n# connections from outside the container\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" \
    >>"$PGDATA/pg_hba.conf"

  # a server reachable only through the unix socket while the database is created: nobody can connect
  # over TCP (the readiness probe of testcontainers included) before initialization is complete
  pg_ctl -D "$PGDATA" -w -t 60 -o "-c listen_addresses='' -c fsync=off" start >&2
  export PGHOST=/var/run/postgresql PGUSER="$POSTGRES_USER"
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -v db="$POSTGRES_DB" >&2 <<'SQL'
SELECT format('CREATE DATABASE %I', :'db')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')\gexec
SQL
  for f in /docker-entrypoint-initdb.d/*.sql; do
    [ -f "$f" ] || continue
    log "running $f"
    psql -X -q -v ON_ERROR_STOP=1 -d "$POSTGRES_DB" -f "$f" >&2
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >&2
  unset PGHOST PGUSER
  log "initialization complete"
fi

shift
exec postgres -D "$PGDATA" -c listen_addresses='*' -c fsync=off -c synchronous_commit=off \
  -c full_page_writes=off -c jit=off "$@"
ENTRYPOINT
image_path="$PG_LIB/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"

# smoke-test the tree before importing it: the loader must resolve every library inside the root
if command -v chroot >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  chroot "$root" /usr/bin/env PATH="$image_path" postgres --version >/dev/null \
    || die "the assembled root filesystem cannot run postgres (a library is missing?)"
  chroot "$root" /usr/bin/env PATH="$image_path" psql --version >/dev/null \
    || die "the assembled root filesystem cannot run psql"
fi

version=$(machine_version)
[ -n "$version" ] || die "$PG_LIB/bin/postgres --version printed no version"
tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$work/rootfs.tar" . || die "tar of the root filesystem failed"
size=$(du -m "$work/rootfs.tar" | cut -f1)
docker import \
  --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
  --change 'CMD ["postgres"]' \
  --change "ENV PATH=$image_path" \
  --change 'ENV PGDATA=/var/lib/postgresql/data' \
  --change 'ENV LANG=C.UTF-8' \
  --change "ENV PG_MAJOR=$PG_MAJOR" \
  --change "ENV PG_VERSION=$version" \
  --change 'EXPOSE 5432' \
  --change 'WORKDIR /' \
  --change "LABEL org.opscheck.source=scripts/docker-postgres.sh org.opscheck.postgres-version=$version" \
  --message "opscheck local PostgreSQL $version image (from $PG_LIB)" \
  "$work/rootfs.tar" "$IMAGE" >/dev/null || die "docker import failed"
docker tag "$IMAGE" "$ALIAS" || die "docker tag $IMAGE $ALIAS failed"

# the image must work like a server image: start it, log in over TCP with a password from inside
smoke_fail() {
  [ -z "$smoke_cid" ] || docker logs --tail 15 "$smoke_cid" >&2 2>&1 || true
  [ -z "$smoke_cid" ] || docker rm -f "$smoke_cid" >/dev/null 2>&1 || true
  docker rmi "$ALIAS" "$IMAGE" >/dev/null 2>&1 || true # a broken image must not look built
  die "the new image $IMAGE failed its smoke test: $1 (its log above); it was removed"
}
smoke_cid=""
smoke_cid=$(docker run -d -e POSTGRES_PASSWORD=smoke-test "$IMAGE") || smoke_fail "docker run failed"
for _ in $(seq 1 120); do
  if docker exec -e PGPASSWORD=smoke-test "$smoke_cid" psql -X -w -h 127.0.0.1 -U postgres -d postgres \
    -Atc 'select 1' >/dev/null 2>&1; then
    break
  fi
  [ "$(docker inspect -f '{{.State.Running}}' "$smoke_cid" 2>/dev/null)" = true ] || smoke_fail "the container exited"
  sleep 0.25
done
docker exec "$smoke_cid" pg_dump -U postgres -d postgres --schema-only >/dev/null 2>&1 \
  || smoke_fail "the server did not accept connections within 30 s, or pg_dump failed"
docker rm -f "$smoke_cid" >/dev/null || die "could not remove the smoke-test container $smoke_cid"
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]; then
  docker rmi "$previous" >/dev/null 2>&1 || true # the image this one replaces, unless still in use
fi
say "built $IMAGE (= $ALIAS, PostgreSQL $version, ${size} MB tarball) in $(since "$t0") s"
say "ready"
