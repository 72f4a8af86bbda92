#!/usr/bin/env bash
# Train straight from the mount (issue 23): torchvision ImageFolder + a
# DataLoader (2 workers, shuffle, batch 8, 64 px, a linear model) over a tag
# of --images images (8 KiB .. 1 MiB, 8 class folders) on bench/wan/bed.sh
# (nginx TLS 1.3, HTTP/2 API, HTTP/1.1 storage) at each RTT of --rtt.
# Every row is measured against its baseline in the same run; prints a
# table of ratios per RTT.
#
#   bench/train.sh [--rtt 0,150] [--images 2000] [--quick]
#
# --quick: 500 images.  Root only (the bed); installs python3-torchvision
# from Debian when missing; builds the daemon into build/ of this tree
# (LIGHTLYFS_BIN overrides).  The epochs are examples/train_from_mount.py.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
BED="$here/wan/bed.sh"
TOOLS="$here/train/tools.py"
TRAIN="$root/examples/train_from_mount.py"
PY=/usr/bin/python3

rtts=0,150 n_img=2000
cmdline="bench/train.sh $*"
while [ $# -gt 0 ]; do
	case $1 in
	--rtt) rtts=$2; shift 2 ;;
	--images) n_img=$2; shift 2 ;;
	--quick) n_img=500; shift ;;
	*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "train.sh: run as root (the bed)" >&2; exit 1; }
if ! "$PY" -c 'import torchvision' 2>/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		python3-torchvision >/dev/null
fi
if [ -z "${LIGHTLYFS_BIN:-}" ]; then
	cmake -S "$root" -B "$root/build" -DLIGHTLYFS_WERROR=ON >/dev/null
	cmake --build "$root/build" -j2 >/dev/null
	LIGHTLYFS_BIN=$root/build/lightlyfs
fi
BIN=$LIGHTLYFS_BIN

work=$(mktemp -d /tmp/lfs-trainbench.XXXXXX)
MNT="" FS_PID="" STOPPED=()
cleanup() {
	[ ${#STOPPED[@]} = 0 ] || kill -CONT "${STOPPED[@]}" 2>/dev/null || true
	unmount || true
	[ ! -f "$work/bed/run" ] || "$BED" down "$work/bed"
	rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.2f×", a / b; else print "—" }'; }

# mount_at CACHE [OPTION,...]: mount with CACHE as content cache and state
mount_at() {
	local c=$1 opts="ca_certs=$WAN_CA,content_cache_mb=4096${2:+,$2}"
	MNT=$(mktemp -d "$work/mnt.XXXXXX")
	env LIGHTLY_TOKEN="$WAN_TOKEN" LIGHTLY_SERVER_LOCATION="$WAN_API" \
		LIGHTLYFS_RESOLVE="$WAN_RESOLVE_H1" XDG_CACHE_HOME="$c" \
		XDG_STATE_HOME="$c/state" "$BIN" -f -o "$opts" "$MNT" \
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
mount_fresh() { mount_at "$(mktemp -d "$work/cache.XXXXXX")" "$@"; }

unmount() {
	[ -n "$MNT" ] || return 0
	if mountpoint -q "$MNT"; then
		cp "$MNT/.lightly/stats" "$MNT.stats" 2>/dev/null || true
		fusermount3 -u "$MNT"
	fi
	for _ in $(seq 1 300); do
		kill -0 "$FS_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$FS_PID" 2>/dev/null || true
	wait "$FS_PID" 2>/dev/null || true
	if grep -q "$WAN_TOKEN" "$MNT.log"; then
		echo "train.sh: the daemon's log holds the token" >&2
		exit 1
	fi
	rmdir "$MNT"
	MNT="" FS_PID=""
}

# epochs DIR N [LABEL...]: N epochs of the example over DIR, no warm-up;
# sets E1 E2 (seconds, "" when failed or short of images) and ERR1 ERR2
epochs() {
	local dir=$1 n=$2 j
	j=$(mktemp "$work/epochs.XXXXXX")
	"$PY" "$TRAIN" "$dir" --epochs "$n" --no-warmup --json "$j" \
		>>"$work/train.log" 2>&1 || true
	E1="" E2="" ERR1="did not run" ERR2="did not run"
	eval "$("$PY" - "$j" <<'PY'
import json, shlex, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    e = r["epoch"]
    ok = r["error"] is None and r["images"] == r["total"]
    print("E%d=%s ERR%d=%s" % (e, r["seconds"] if ok else "",
          e, shlex.quote(r["error"] or "none")))
PY
)"
	rm -f "$j"
}

# the bed's server side: nginx (master and workers) and the emulator
stop_server() { mapfile -t STOPPED < <(ip netns pids "$WAN_NS"); kill -STOP "${STOPPED[@]}"; }
cont_server() { kill -CONT "${STOPPED[@]}"; STOPPED=(); }

row() { # workload ours baseline-name baseline target
	printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "${2:-failed} s" "$3" "$4 s" \
		"$(ratio "$2" "$4")" "$5"
}

echo "command: $cmdline   (as root, from the repository root; $(date -u '+%Y-%m-%d %H:%M UTC'), $(git -C "$root" rev-parse --short HEAD))"
"$BED" up --dir "$work/bed" >/dev/null
eval "$("$BED" env "$work/bed")"
saddr=10.213.$WAN_RUN.3 aaddr=10.213.$WAN_RUN.2
link=(--cacert "$WAN_CA" --resolve "api.test:443:$aaddr" --resolve "storage.test:443:$saddr")
ds=$("$PY" "$TOOLS" seed "$WAN_EMU" "$WAN_TOKEN" train "$n_img" 8)
read -r n_urls total_mb < <("$PY" "$TOOLS" curlcfg "$WAN_EMU" "$WAN_TOKEN" "$ds" "$work/local" "$work/curl.cfg")
[ "$n_urls" = "$n_img" ] || { echo "train.sh: $n_urls read URLs for $n_img images" >&2; exit 1; }
echo "tag: train/initial-tag, $n_img images in 8 class folders ($total_mb MiB, 8 KiB..1 MiB log-uniform, PNG and JPEG); storage HTTP/1.1 as S3; mount -o content_cache_mb=4096; DataLoader 2 workers, shuffle, batch 8, 64 px, a linear model"
echo "stall: SIGSTOP of nginx (master and workers) and the emulator (every process of the bed's namespace) for 20 s, then SIGCONT"

for rtt in ${rtts//,/ }; do
	"$BED" rtt "$work/bed" "$rtt"
	c=$(curl -sS -o /dev/null "${link[@]}" -w '%{time_connect}' https://api.test/_emulator/health)
	echo
	echo "### RTT $rtt ms"
	echo
	echo "link check: curl time_connect to api.test $c s"

	# baselines: 64 parallel curls into a local copy, then epochs over it
	rm -rf "$work/local"
	t0=$(now)
	curl -sS --no-progress-meter --fail --create-dirs --parallel \
		--parallel-max 64 "${link[@]}" -K "$work/curl.cfg"
	t_curl=$(secs "$t0")
	epochs "$work/local" 2
	t_loc1=$E1 t_loc=$E2
	[ -n "$t_loc" ] || { echo "train.sh: the local epochs failed: $ERR1 $ERR2" >&2; exit 1; }

	# warm-up of the tag, fresh mount
	mount_fresh
	ls "$MNT/train" >/dev/null
	t0=$(now)
	if "$BIN" warmup "$MNT/train/initial-tag" >"$work/warmup.out" 2>&1; then
		t_warm=$(secs "$t0")
	else
		t_warm="" ; echo "warm-up failed: $(tail -1 "$work/warmup.out")"
	fi
	unmount
	# the same with 64 files at once (not a row of the issue: what the
	# option alone buys)
	mount_fresh prefetch_files=64
	ls "$MNT/train" >/dev/null
	t0=$(now)
	if "$BIN" warmup "$MNT/train/initial-tag" >"$work/warmup.out" 2>&1; then
		t_warm64=$(secs "$t0")
	else
		t_warm64="" ; echo "warm-up (prefetch_files=64) failed: $(tail -1 "$work/warmup.out")"
	fi
	unmount

	# epoch 1 cold, epoch 2 on the same mount; then the offline remount
	cache=$(mktemp -d "$work/cache.XXXXXX")
	mount_at "$cache"
	epochs "$MNT/train/initial-tag" 2
	t_c1=$E1 t_c2=$E2 err_c="$ERR1 / $ERR2"
	stats_c=$(mktemp "$work/stats.XXXXXX")
	cp "$MNT/.lightly/stats" "$stats_c" 2>/dev/null || true
	unmount
	stop_server
	t0=$(now)
	mount_at "$cache" offline
	t_mnt=$(secs "$t0")
	epochs "$MNT/train/initial-tag" 1
	t_off=$E1 err_off=$ERR1
	unmount
	cont_server

	# epoch 1 cold on a mount with 64 files at once (not a row of the issue)
	mount_fresh prefetch_files=64
	epochs "$MNT/train/initial-tag" 1
	t_c64=$E1 err_c64=$ERR1
	unmount

	# epoch 1 cold with the server stopped for 20 s in the middle
	mount_fresh
	j="$work/stall.json"
	rm -f "$j"
	prog="$work/stall.progress"
	echo 0 >"$prog"
	"$PY" "$TRAIN" "$MNT/train/initial-tag" --epochs 1 --no-warmup \
		--json "$j" --progress "$prog" >>"$work/train.log" 2>&1 &
	tp=$!
	# stop when half of the images went through the loader
	half=0
	while kill -0 "$tp" 2>/dev/null && [ "$half" -lt $((n_img / 2)) ]; do
		sleep 0.05
		half=$(cat "$prog" 2>/dev/null) || true
		half=${half:-0}
	done
	stop_server
	sleep 20
	cont_server
	wait "$tp" || true
	read -r t_stall img_stall err_stall < <("$PY" -c '
import json, sys
try:
    r = json.loads(open(sys.argv[1]).readline())
    ok = r["error"] is None and r["images"] == r["total"]
    print(r["seconds"] if ok else "-", "%d/%d" % (r["images"], r["total"]),
          r["error"] or "none")
except Exception as e:
    print("- 0 did-not-finish")' "$j")
	unmount

	echo
	echo "| workload | lightlyfs | baseline (same run) | baseline | ratio | target |"
	echo "|---|---|---|---|---|---|"
	row "\`lightlyfs warmup\` of the tag (fresh mount)" "$t_warm" "64 parallel curls of its read URLs" "$t_curl" "≤ 1.25×"
	row "  the same, mount with \`-o prefetch_files=64\` (not in the issue)" "$t_warm64" "64 parallel curls of its read URLs" "$t_curl" "—"
	row "epoch 1, cold, no warm-up" "$t_c1" "64 curls + epoch over the local copy" "$(add "$t_curl" "$t_loc1")" "≤ 1.5×"
	row "  the same, mount with \`-o prefetch_files=64\` (not in the issue)" "$t_c64" "64 curls + epoch over the local copy" "$(add "$t_curl" "$t_loc1")" "—"
	row "epoch 2, same mount" "$t_c2" "epoch 2 over the local copy" "$t_loc" "≤ 1.1×"
	row "epoch 2 on an offline remount (server stopped)" "$t_off" "epoch 2 over the local copy" "$t_loc" "as epoch 2"
	row "epoch 1, cold, server stopped 20 s after $half images" "${t_stall/-/}" "epoch 1 cold above" "${t_c1:-0}" "completes"
	echo
	echo "local copy: epoch 1 $t_loc1 s, epoch 2 $t_loc s; errors: cold mount $err_c, prefetch_files=64 $err_c64; offline $err_off (remount took $t_mnt s); stalled epoch: $img_stall images decoded, error: $err_stall"
	echo "the cold mount after its 2 epochs (.lightly/stats): $("$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
r = {k: v for k, v in d["api"]["requests"].items() if v}
c = d["content"]
print("API requests", r, "retries", d["api"]["retries"], "failures", d["api"]["failures"],
      "; content fetches", c["fetches"], "prefetched", c["prefetched"], "hits", c["hits"],
      "pushed", c["pushed"], "shuffledListings", c["shuffledListings"])' "$stats_c" 2>&1)"
	echo "reproduce: sudo bench/train.sh --rtt $rtt --images $n_img"
done
