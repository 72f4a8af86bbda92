#!/usr/bin/env bash
# The mount against a baseline over the network users are on (issue 22):
# bench/wan/bed.sh (nginx, TLS 1.3, HTTP/2 API, storage on another name;
# HTTP/1.1 storage as S3 by default) at each RTT of --rtt, paced to --rate.
# Every workload is cold (a fresh mount and content cache) and its baseline
# runs over the same link in the same run.  Prints a table per RTT.
#
#   bench/wan.sh [--rtt 0,20,80,150] [--rate 500] [--quick] [--storage h1|h2]
#
# --quick: 100 images instead of 500, 2,000 samples for ls -l instead of
# 10,000, 20,000 for ls -f instead of 100,000.  Root only (the bed).  One
# bed serves every RTT (changed with `bed.sh rtt`), so the datasets are
# made once.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
BIN="${LIGHTLYFS_BIN:-$root/build/lightlyfs}"
BED="$here/wan/bed.sh"
TOOLS="$here/wan/tools.py"

rtts=0,20,80,150 rate=500 quick="" storage=h1
cmdline="bench/wan.sh $*"
while [ $# -gt 0 ]; do
	case $1 in
	--rtt) rtts=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	--storage) storage=$2; shift 2 ;;
	*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
n_img=500 n_ls=10000 n_big=100000
[ -z "$quick" ] || { n_img=100 n_ls=2000 n_big=20000; }
[ -x "$BIN" ] || { echo "wan.sh: build $BIN first" >&2; exit 1; }

work=$(mktemp -d /tmp/lfs-wanbench.XXXXXX)
MNT="" FS_PID=""
cleanup() {
	unmount
	[ ! -f "$work/bed/run" ] || "$BED" down "$work/bed"
	rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "—" }'; }
lines() { wc -l <"$WAN_ACCESS_LOG"; }

mount_fresh() {
	local c
	c=$(mktemp -d "$work/cache.XXXXXX")
	MNT=$(mktemp -d "$work/mnt.XXXXXX")
	env LIGHTLY_TOKEN="$WAN_TOKEN" LIGHTLY_SERVER_LOCATION="$WAN_API" \
		LIGHTLYFS_RESOLVE="$resolve" XDG_CACHE_HOME="$c" \
		XDG_STATE_HOME="$c/state" "$BIN" -f -o "ca_certs=$WAN_CA" "$MNT" \
		</dev/null 2>"$MNT.log" &
	FS_PID=$!
	for _ in $(seq 1 300); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$FS_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$MNT.log" >&2
	exit 1
}

unmount() {
	[ -n "$MNT" ] || return 0
	mountpoint -q "$MNT" && fusermount3 -u "$MNT"
	for _ in $(seq 1 200); do
		kill -0 "$FS_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$FS_PID" 2>/dev/null || true
	wait "$FS_PID" 2>/dev/null || true
	if grep -q "$WAN_TOKEN" "$MNT.log"; then
		echo "wan.sh: the daemon's log holds the token" >&2
		exit 1
	fi
	rmdir "$MNT"
	MNT="" FS_PID=""
}

row() { # workload ours baseline-name baseline
	printf '| %s | %s s | %s %s s | %s |\n' "$1" "$2" "$3" "$4" "$(ratio "$2" "$4")"
}

echo "command: $cmdline   (as root, from the repository root; $(date -u '+%Y-%m-%d %H:%M UTC'), $(git -C "$root" rev-parse --short HEAD))"
"$BED" up --dir "$work/bed" --rate "$rate" -- --dataset "ls10k:$n_ls" \
	--dataset "big:$n_big" >/dev/null
eval "$("$BED" env "$work/bed")"
if [ "$storage" = h1 ]; then
	resolve=$WAN_RESOLVE_H1 saddr=10.213.$WAN_RUN.3
else
	resolve=$WAN_RESOLVE saddr=10.213.$WAN_RUN.2
fi
aaddr=10.213.$WAN_RUN.2
link=(--cacert "$WAN_CA" --resolve "api.test:443:$aaddr" --resolve "storage.test:443:$saddr")

ds_img=$(python3 "$TOOLS" seed "$WAN_EMU" "$WAN_TOKEN" imgs "$n_img")
dsid() {
	curl -sS "$WAN_EMU/v1/datasets?token=$WAN_TOKEN" |
		python3 -c "import json,sys; print(next(d['id'] for d in json.load(sys.stdin) if d['name'] == '$1'))"
}
ds_ls=$(dsid ls10k) ds_big=$(dsid big)
python3 "$TOOLS" urls "$WAN_EMU" "$WAN_TOKEN" "$ds_img" "$work/urls.tsv"
big_name=$(sort -t"$(printf '\t')" -k3,3n "$work/urls.tsv" | tail -1 | cut -f2)
big_url=$(sort -t"$(printf '\t')" -k3,3n "$work/urls.tsv" | tail -1 | cut -f1)
total_mb=$(awk -F'\t' '{ s += $3 } END { printf "%.1f", s / 1048576 }' "$work/urls.tsv")
awk -F'\t' -v d="$work/b" '{ printf "url = \"%s\"\noutput = \"%s/%s\"\n", $1, d, $2 }' \
	"$work/urls.tsv" >"$work/curl.cfg"
pages=()
for ((o = 0; o < n_ls; o += 2000)); do
	pages+=(-o /dev/null "https://api.test/v1/datasets/$ds_ls/samples?pageSize=2000&pageOffset=$o&token=$WAN_TOKEN")
done
echo "datasets: imgs $n_img images ($total_mb MiB, 8 KiB..1 MiB and one 8 MiB: $big_name), ls10k $n_ls samples, big $n_big samples; storage $storage; rate $rate Mbit/s"

for rtt in ${rtts//,/ }; do
	"$BED" rtt "$work/bed" "$rtt" "$rate"
	c=""
	for _ in 1 2 3; do
		c+=" $(curl -sS -o /dev/null "${link[@]}" -w '%{time_connect}' https://api.test/_emulator/health)"
	done
	echo
	echo "### RTT $rtt ms"
	echo
	echo "link check: curl time_connect to api.test:$c s (asked: $(awk -v r="$rtt" 'BEGIN { printf "%.3f", r / 1000 }') s)"
	echo
	echo "| workload | lightlyfs | baseline (same run) | ratio |"
	echo "|---|---|---|---|"

	# cold cp -r of the tag, against 64 parallel curls and the official way
	mount_fresh
	from=$(lines)
	t0=$(now)
	cp -r "$MNT/imgs/initial-tag" "$work/cp"
	t_cp=$(secs "$t0")
	conn_fs=$(python3 "$TOOLS" conns "$WAN_ACCESS_LOG" "$from")
	link_fs=$(python3 -c 'import json,sys; c = json.load(open(sys.argv[1]))["content"]
print("window %s files at the end, first byte %.0f ms, %.1f MB/s; %s readurl, %s URL pages (%s URLs)" % (c.get("window"), c.get("linkRttUs", 0) / 1000, c.get("linkBytesPerS", 0) / 1e6, c["readUrls"], c.get("urlPages"), c.get("urlsPaged")))' "$MNT/.lightly/stats" 2>/dev/null || echo "no link counters")
	unmount
	cmp -s "$work/cp/$big_name" <(curl -sS "${link[@]}" "$big_url") ||
		{ echo "wan.sh: the copy of $big_name differs" >&2; exit 1; }
	rm -rf "$work/cp"
	mkdir -p "$work/b"
	from=$(lines)
	t0=$(now)
	curl -sS --no-progress-meter --fail --parallel --parallel-max 64 "${link[@]}" -K "$work/curl.cfg"
	t_curl=$(secs "$t0")
	conn_curl=$(python3 "$TOOLS" conns "$WAN_ACCESS_LOG" "$from")
	rm -rf "$work/b" && mkdir -p "$work/b"
	from=$(lines)
	t0=$(now)
	python3 "$TOOLS" official "$aaddr" "$saddr" "$WAN_CA" "$WAN_TOKEN" "$ds_img" "$work/b"
	t_off=$(secs "$t0")
	conn_off=$(python3 "$TOOLS" conns "$WAN_ACCESS_LOG" "$from")
	rm -rf "$work/b"
	row "cold \`cp -r\` of a $n_img-image tag ($total_mb MiB)" "$t_cp" "64 parallel curls of read URLs fetched before" "$t_curl"
	row "  the same" "$t_cp" "official client's way (readurl + GET, 8 threads)" "$t_off"

	# cold cat of the 8 MiB image
	mount_fresh
	ls "$MNT/imgs/initial-tag" >/dev/null
	t0=$(now)
	cat "$MNT/imgs/initial-tag/$big_name" >/dev/null
	t_cat=$(secs "$t0")
	unmount
	t0=$(now)
	curl -sS --fail -o /dev/null "${link[@]}" "$big_url"
	t_curl1=$(secs "$t0")
	row "cold \`cat\` of the 8 MiB image (tag listed before)" "$t_cat" "one curl of its URL" "$t_curl1"

	# first ls -l of a 10k tag
	mount_fresh
	t0=$(now)
	ls -l "$MNT/ls10k/initial-tag" >/dev/null
	t_lsl=$(secs "$t0")
	unmount
	t0=$(now)
	curl -sS --fail "${link[@]}" "${pages[@]}"
	t_pages=$(secs "$t0")
	row "first \`ls -l\` of a $n_ls-sample tag" "$t_lsl" "serial curl of its $(((n_ls + 1999) / 2000)) sample pages" "$t_pages"

	# cold ls -f of a 100k tag
	mount_fresh
	t0=$(now)
	ls -f "$MNT/big/initial-tag" >/dev/null
	t_lsf=$(secs "$t0")
	unmount
	t0=$(now)
	curl -sS --fail -o /dev/null "${link[@]}" \
		"https://api.test/v1/datasets/$ds_big/mappings?field=fileName&token=$WAN_TOKEN"
	t_map=$(secs "$t0")
	row "cold \`ls -f\` of a $n_big-sample tag" "$t_lsf" "curl of its mapping page" "$t_map"

	# 100 ln + sync into a new tag
	mount_fresh
	mkdir "$MNT/imgs/ln-$rtt"
	ls "$MNT/imgs/initial-tag" "$MNT/imgs/ln-$rtt" >/dev/null
	t0=$(now)
	python3 -c '
import os, sys
src, dst = sys.argv[1], sys.argv[2]
for n in sorted(os.listdir(src))[:100]:
    os.link(os.path.join(src, n), os.path.join(dst, n))
fd = os.open(dst, os.O_RDONLY)
os.fsync(fd)
os.close(fd)' "$MNT/imgs/initial-tag" "$MNT/imgs/ln-$rtt"
	t_ln=$(secs "$t0")
	unmount
	tag=$(curl -sS -X POST -H 'Content-Type: application/json' \
		--data "{\"name\": \"lnb-$rtt\", \"prevTagId\": \"$(curl -sS "$WAN_EMU/v1/datasets/$ds_img/tags?token=$WAN_TOKEN" |
			python3 -c 'import json,sys; print(next(t["id"] for t in json.load(sys.stdin) if t["name"] == "initial-tag"))')\", \"bitMaskData\": \"0x0\", \"totSize\": $n_img}" \
		"$WAN_EMU/v1/datasets/$ds_img/tags?token=$WAN_TOKEN" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	body="{\"name\": \"lnb-$rtt\", \"bitMaskData\": \"$(python3 -c 'print(hex((1 << 100) - 1))')\"}"
	turl="https://api.test/v1/datasets/$ds_img/tags/$tag?token=$WAN_TOKEN"
	t0=$(now)
	curl -sS --fail -o /dev/null "${link[@]}" "$turl" --next -sS --fail -o /dev/null \
		"${link[@]}" -X PUT -H 'Content-Type: application/json' --data "$body" "$turl"
	t_put=$(secs "$t0")
	row "100 \`ln\` + \`sync\` into a new tag" "$t_ln" "curl GET + PUT of the tag" "$t_put"
	echo
	echo "connections opened during the cold \`cp -r\`: lightlyfs $conn_fs; 64 parallel curls $conn_curl; official way $conn_off"
	echo
	echo "the mount during the cold \`cp -r\`: $link_fs"
done
