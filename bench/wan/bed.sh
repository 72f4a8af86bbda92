#!/usr/bin/env bash
# The WAN test bed (issue 22): the emulator behind Debian's nginx speaking
# TLS 1.3 and HTTP/2, as api.test and storage.test (another name, another
# certificate from another CA, and an HTTP/1.1-only variant), reached by the
# mount through a link with a chosen round trip and rate.
#
#   bench/wan/bed.sh up [--dir DIR] [--rtt MS] [--rate MBIT] [-- EMULATOR ARGS]
#   bench/wan/bed.sh env DIR        the bed's variables, for eval
#   bench/wan/bed.sh rtt DIR MS [MBIT]   change the link without a restart
#   bench/wan/bed.sh down DIR       stop all of it, by pid, and remove it
#
# `up` prints DIR last (default: a new /tmp/lfs-wan.XXXXXX).  Then, e.g.:
#   eval "$(bench/wan/bed.sh env DIR)"
#   env LIGHTLY_TOKEN=$WAN_TOKEN LIGHTLY_SERVER_LOCATION=$WAN_API \
#       LIGHTLYFS_RESOLVE=$WAN_RESOLVE build/lightlyfs -o ca_certs=$WAN_CA MNT
# WAN_RESOLVE_H1 puts storage on the HTTP/1.1-only host, WAN_RESOLVE_ROGUE
# on one whose certificate WAN_CA does not sign.  WAN_EMU is the emulator's
# own URL (undelayed, plain HTTP) for oracles and /_emulator/ routes;
# WAN_DIRECT_RESOLVE reaches nginx undelayed (curl --resolve).
#
# Layout (N: the first free run number, 1..250, claimed by creating the
# network namespace lfswN, so two beds never collide):
#   root namespace           relay (user space)         namespace lfswN
#   mount, curl ── lfswNa 10.213.N.1 ══ RTT/2, rate ══ lfswNb 10.213.N.2-4
#                                                        nginx :443 ─► emulator
#              ── lfswNv 10.214.N.1 ─── veth, undelayed ── 10.214.N.2
# This kernel has no sch_netem; relay.c delays every packet, the handshake's
# included, so time_connect is the round trip.  Only the network namespace
# is separate: the mount stays in the caller's mount namespace.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

die() {
	echo "bed: $*" >&2
	exit 1
}

# kill_wait PID: TERM, up to 5 s, then KILL
kill_wait() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		[ "$i" = 50 ] || sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

cmd_down() {
	local dir=$1 n pid
	[ -f "$dir/run" ] || die "$dir is no bed"
	n=$(cat "$dir/run")
	if [ -f "$dir/nginx/nginx.pid" ]; then
		kill_wait "$(cat "$dir/nginx/nginx.pid")"
	fi
	for f in emu.pid relay.pid; do
		[ -f "$dir/$f" ] && kill_wait "$(cat "$dir/$f")"
	done
	# nginx's workers end with their master; wait until none is left
	for pid in $(ip netns pids "lfsw$n" 2>/dev/null); do
		kill_wait "$pid"
	done
	ip link del "lfsw${n}a" 2>/dev/null || true
	ip link del "lfsw${n}v" 2>/dev/null || true
	ip -n "lfsw$n" link del "lfsw${n}b" 2>/dev/null || true
	ip netns del "lfsw$n" 2>/dev/null || true
	rm -rf "$dir"
}

# cert NAME CN CA: a key and a certificate for CN, signed by CA (or a CA
# itself when CA is "self")
cert() {
	local d=$1/ca name=$2 cn=$3 ca=$4
	if [ "$ca" = self ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -keyout "$d/$name.key" -out "$d/$name.crt" -days 2 \
			-subj "/CN=$cn" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		return
	fi
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/$name.key" -out "$d/$name.csr" -subj "/CN=$cn" 2>/dev/null
	printf '%s\n' "subjectAltName=DNS:$cn" "basicConstraints=CA:FALSE" \
		"keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth" >"$d/$name.ext"
	openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.crt" \
		-CAkey "$d/$ca.key" -CAcreateserial -days 2 \
		-extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null
}

set_rtt() { # DIR MS MBIT
	printf '%s %s\n' "$2" "$3" >"$1/relay.conf.new"
	mv "$1/relay.conf.new" "$1/relay.conf"
	sed -i "s/^WAN_RTT_MS=.*/WAN_RTT_MS=$2/; s/^WAN_RATE_MBIT=.*/WAN_RATE_MBIT=$3/" "$1/env"
	[ -f "$1/relay.pid" ] && kill -HUP "$(cat "$1/relay.pid")"
	# the relay reads it at its next wake-up; a packet in flight keeps
	# the delay it was given
	sleep 0.2
}

# wait_line FILE REGEX PID: until FILE has a line matching, or PID died
wait_line() {
	local i
	for i in $(seq 1 300); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

cmd_up() {
	local dir="" rtt=0 rate=500 n ns a b v p token
	up_done=""
	while [ $# -gt 0 ]; do
		case $1 in
		--dir) dir=$2; shift 2 ;;
		--rtt) rtt=$2; shift 2 ;;
		--rate) rate=$2; shift 2 ;;
		--) shift; break ;;
		*) die "unknown option $1" ;;
		esac
	done
	[ "$(id -u)" = 0 ] || die "needs root (network namespaces, TUN)"
	command -v nginx >/dev/null || die "nginx is missing (scripts/deps.sh)"
	[ -c /dev/net/tun ] || die "no /dev/net/tun"
	if [ -z "$dir" ]; then
		dir=$(mktemp -d /tmp/lfs-wan.XXXXXX)
	else
		mkdir -p "$dir"
	fi
	dir=$(cd "$dir" && pwd)
	[ ! -e "$dir/run" ] || die "$dir holds a bed already"
	local got=""
	for n in $(seq 1 250); do
		ip netns add "lfsw$n" 2>/dev/null || continue
		if ip tuntap add dev "lfsw${n}a" mode tun 2>/dev/null; then
			got=$n
			break
		fi
		ip netns del "lfsw$n"
	done
	[ -n "$got" ] || die "no free run number (lfsw1..250 all taken)"
	echo "$n" >"$dir/run"
	# from here on a failure takes down what was made
	trap '[ -n "$up_done" ] || cmd_down "$dir"' EXIT
	ns="lfsw$n" a="lfsw${n}a" b="lfsw${n}b" v="lfsw${n}v" p="lfsw${n}p"
	token="wan-token-$n-$RANDOM$RANDOM"
	mkdir -p "$dir/ca" "$dir/nginx/tmp" "$dir/emu"

	# the link: two TUN devices the relay joins, one moved into the bed
	ip tuntap add dev "$b" mode tun
	cc -O2 -o "$dir/relay" "$here/relay.c"
	printf '%s %s\n' "$rtt" "$rate" >"$dir/relay.conf"
	"$dir/relay" "$dir/relay.conf" "$a" "$b" </dev/null \
		>"$dir/relay.out" 2>"$dir/relay.log" 3>&- &
	echo $! >"$dir/relay.pid"
	wait_line "$dir/relay.out" '^ready' "$(cat "$dir/relay.pid")" ||
		die "relay: $(cat "$dir/relay.log")"
	ip link set "$b" netns "$ns"
	ip addr add "10.213.$n.1/24" dev "$a"
	ip link set "$a" up
	ip -n "$ns" link set lo up
	for i in 2 3 4; do
		ip -n "$ns" addr add "10.213.$n.$i/24" dev "$b"
	done
	ip -n "$ns" link set "$b" up
	ip link add "$v" type veth peer name "$p"
	ip link set "$p" netns "$ns"
	ip addr add "10.214.$n.1/24" dev "$v"
	ip -n "$ns" addr add "10.214.$n.2/24" dev "$p"
	ip link set "$v" up
	ip -n "$ns" link set "$p" up

	# a CA per run for the API, another for storage, and one the mount
	# is never given
	cert "$dir" ca-api "lightlyfs wan bed API CA $n" self
	cert "$dir" ca-storage "lightlyfs wan bed storage CA $n" self
	cert "$dir" ca-rogue "lightlyfs wan bed rogue CA $n" self
	cert "$dir" api api.test ca-api
	cert "$dir" storage storage.test ca-storage
	cert "$dir" rogue storage.test ca-rogue
	cat "$dir/ca/ca-api.crt" "$dir/ca/ca-storage.crt" >"$dir/ca/bundle.crt"

	ip netns exec "$ns" python3 "$root/scripts/lightly_emulator.py" \
		--host 0.0.0.0 --port 0 --storage-port 0 --token "$token" \
		--storage-url https://storage.test --api-url https://api.test \
		--state "$dir/emu/state.sqlite" \
		"$@" </dev/null >"$dir/emu/out" 2>"$dir/emu/err" 3>&- &
	echo $! >"$dir/emu.pid"
	wait_line "$dir/emu/out" '^storage_port=' "$(cat "$dir/emu.pid")" ||
		die "emulator: $(tail -5 "$dir/emu/err")"
	local eport sport
	eport=$(sed -n 's/^port=//p' "$dir/emu/out")
	sport=$(sed -n 's/^storage_port=//p' "$dir/emu/out")

	sed -e "s|@DIR@|$dir|g" -e "s|@A2@|10.213.$n.2|g" \
		-e "s|@A3@|10.213.$n.3|g" -e "s|@A4@|10.213.$n.4|g" \
		-e "s|@VETH@|10.214.$n.2|g" -e "s|@EMU_PORT@|$eport|g" \
		-e "s|@EMU_SPORT@|$sport|g" "$here/nginx.conf.in" >"$dir/nginx/nginx.conf"
	ip netns exec "$ns" nginx -q -p "$dir/nginx" -c "$dir/nginx/nginx.conf" \
		-e "$dir/nginx/error.log" </dev/null 3>&- ||
		die "nginx: $(tail -5 "$dir/nginx/error.log")"

	cat >"$dir/env" <<EOF
WAN_DIR=$dir
WAN_RUN=$n
WAN_NS=$ns
WAN_RTT_MS=$rtt
WAN_RATE_MBIT=$rate
WAN_TOKEN=$token
WAN_API=https://api.test
WAN_CA=$dir/ca/bundle.crt
WAN_CA_API=$dir/ca/ca-api.crt
WAN_CA_ROGUE=$dir/ca/ca-rogue.crt
WAN_RESOLVE=api.test:443:10.213.$n.2,storage.test:443:10.213.$n.2
WAN_RESOLVE_H1=api.test:443:10.213.$n.2,storage.test:443:10.213.$n.3
WAN_RESOLVE_ROGUE=api.test:443:10.213.$n.2,storage.test:443:10.213.$n.4
WAN_DIRECT_RESOLVE=api.test:443:10.214.$n.2,storage.test:443:10.214.$n.2
WAN_EMU=http://10.214.$n.2:$eport
WAN_ACCESS_LOG=$dir/nginx/access.log
EOF
	# nginx answers on the delayed link before the bed is handed over
	local i
	for i in $(seq 1 100); do
		curl -s -o /dev/null --cacert "$dir/ca/bundle.crt" \
			--resolve "api.test:443:10.213.$n.2" \
			https://api.test/_emulator/health && break
		[ "$i" != 100 ] || die "nginx does not answer on the link"
		sleep 0.1
	done
	up_done=1
	echo "$dir"
}

case ${1:-} in
up) shift; cmd_up "$@" ;;
down) [ $# = 2 ] || die "usage: bed.sh down DIR"; cmd_down "$2" ;;
env) [ $# = 2 ] || die "usage: bed.sh env DIR"; cat "$2/env" ;;
rtt)
	[ $# -ge 3 ] || die "usage: bed.sh rtt DIR MS [MBIT]"
	set_rtt "$2" "$3" "${4:-$(sed -n 's/^WAN_RATE_MBIT=//p' "$2/env")}"
	;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
