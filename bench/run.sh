#!/usr/bin/env bash
# Benchmark of lightlyfs: listing speed, API requests and memory at N samples,
# against tmpfs holding the same names, the raw transfer of the name pages,
# rclone mount and sshfs.  A measurement, not a test: it exits 0 whatever the
# figures are, and marks each target PASS or FAIL.
#
#   bench/run.sh [--samples N] [--warm-runs N] [--cold-runs N] [--cap SECONDS]
#                [--no-others] [--no-install]
#
# Prints one table and writes it, the machine and the command to
# bench/results/N.md (bench/RESULTS.md gathers every N), its listing times to
# bench/data/N.tsv, and redraws docs/listing-time.png from every N measured
# (with CHART_PYTHON, default /usr/bin/python3).  Everything it starts lives in a temporary directory and is
# unmounted, stopped and removed at exit.  Environment: BUILD_DIR (default
# build), PYTHON (default python3), TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SAMPLES=1000000
WARM_RUNS=5
COLD_RUNS=3
CAP=60            # seconds: one run of rclone/sshfs longer than this is cut off
OTHERS=1
INSTALL=1
STAT_CALLS=100000
CONCURRENT=8
PAGE=100000       # the daemon's mappings page size
TOKEN=bench-token
DS_NAME=bench

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
ARGS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--samples) SAMPLES=${2:?}; ARGS+=("$1" "$2"); shift 2 ;;
	--warm-runs) WARM_RUNS=${2:?}; ARGS+=("$1" "$2"); shift 2 ;;
	--cold-runs) COLD_RUNS=${2:?}; ARGS+=("$1" "$2"); shift 2 ;;
	--cap) CAP=${2:?}; ARGS+=("$1" "$2"); shift 2 ;;
	--no-others) OTHERS=0; ARGS+=("$1"); shift ;;
	--no-install) INSTALL=0; ARGS+=("$1"); shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
done
for v in SAMPLES WARM_RUNS COLD_RUNS CAP; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer" >&2; exit 2; }
done
case " ${ARGS[*]:-} " in *" --samples "*) ;; *) ARGS=(--samples "$SAMPLES" "${ARGS[@]}") ;; esac
COMMAND="bench/run.sh ${ARGS[*]}"

PY=${PYTHON:-python3}
HELPER="$ROOT/bench/helper.py"
BUILD_DIR=${BUILD_DIR:-build}
START=$(date +%s)

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

echo "# reproduce: $COMMAND"
echo

# ------------------------------------------------------------ tidy exit
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lightlyfs-bench.XXXXXX")
FUSE_MOUNTS=()    # lightlyfs, rclone, sshfs mount points
PIDS=()           # every background process we started
TMPFS_MOUNTED=""
SHM_DIR=""
MADE_RUN_SSHD=0

forget_pid() {
	local p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# Waits up to $2 seconds for our child $1 to end; then kills it.
reap() {
	local pid=$1 n=$(( ${2:-10} * 10 ))
	while [ "$n" -gt 0 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; n=$((n - 1)); done
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		sleep 0.5
		kill -9 "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	forget_pid "$pid"
}

fuse_unmount() {
	local m=$1
	mountpoint -q "$m" 2>/dev/null || return 0
	fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null ||
		fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
}

# cleanup runs from the EXIT trap; shellcheck 0.9 takes its body for
# unreachable because the script ends in an explicit exit (SC2317)
# shellcheck disable=SC2317
cleanup() {
	local rc=$? m p
	set +e
	trap - EXIT INT TERM
	for m in "${FUSE_MOUNTS[@]}"; do fuse_unmount "$m"; done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do reap "$p" 3; done
	if [ -n "$TMPFS_MOUNTED" ] && mountpoint -q "$TMPFS_MOUNTED"; then
		umount "$TMPFS_MOUNTED" 2>/dev/null || umount -l "$TMPFS_MOUNTED"
	fi
	[ -n "$SHM_DIR" ] && rm -rf --one-file-system "$SHM_DIR"
	[ "$MADE_RUN_SSHD" = 1 ] && rmdir /run/sshd 2>/dev/null
	if grep -qF " $WORK" /proc/self/mounts; then
		log "left $WORK in place: something is still mounted under it"
	else
		rm -rf --one-file-system "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ helpers
# tcmd CMD...: runs CMD with stdout to /dev/null, prints its wall time in
# seconds; returns CMD's status.
tcmd() {
	local t0 t1 rc=0
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>>"$WORK/cmd.err" || rc=$?
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }'
	return "$rc"
}
median() { "$PY" "$HELPER" median "$@"; }
isnum() { [[ ${1:-} =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
# fmt SECONDS: human-readable time
fmt() {
	[[ ${1:-} = ">"* ]] && { echo "> ${1#>} s (cut off)"; return; }
	isnum "${1:-}" || { echo "${1:-n/a}"; return; }
	awk -v s="$1" 'BEGIN { if (s < 1) printf "%.1f ms", s * 1000; else printf "%.2f s", s }'
}
ratio() {
	if ! isnum "${1:-}" || ! isnum "${2:-}"; then echo "n/a"; return; fi
	awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "n/a"; else if (a / b < 0.1) printf "%.3f×", a / b; else printf "%.2f×", a / b }'
}
# verdict RATIO MAX: PASS when RATIO <= MAX
verdict() {
	local r=${1%×}
	isnum "$r" || { echo "n/a"; return; }
	awk -v r="$r" -v m="$2" 'BEGIN { print (r <= m) ? "PASS" : "FAIL" }'
}
stats_reset() { curl -fsS -X POST "$BASE/_emulator/stats/reset" >/dev/null; }
# stats: "TOTAL<TAB>MAPPINGS<TAB>TAGS<TAB>summary"
stats() { "$PY" "$HELPER" stats "$BASE"; }
stats_field() { cut -f"$2" <<<"$1"; }

ROWS="$WORK/rows.md"
NOTES="$WORK/notes.md"
DATA="$WORK/data.tsv"
: >"$ROWS"
: >"$NOTES"
: >"$DATA"
# datum SERIES SECONDS: one point of the chart (">S" = cut off: not drawn)
datum() { printf '%s\t%s\t%s\n' "$SAMPLES" "$1" "$2" >>"$DATA"; }
row() { printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$@" >>"$ROWS"; }
note() { printf -- '- %s\n' "$*" >>"$NOTES"; }

# ------------------------------------------------------------ setup
if [ "$INSTALL" = 1 ]; then
	log "checking packages (scripts/deps.sh rclone sshfs openssh-server python3-matplotlib)"
	scripts/deps.sh rclone sshfs openssh-server python3-matplotlib ||
		log "warning: scripts/deps.sh failed; going on with what is installed"
fi
log "building lightlyfs in $BUILD_DIR"
if ! { cmake -S . -B "$BUILD_DIR" >"$WORK/build.log" 2>&1 &&
	cmake --build "$BUILD_DIR" -j"$(nproc)" >>"$WORK/build.log" 2>&1; }; then
	tail -30 "$WORK/build.log" >&2
	die "build failed"
fi
LIGHTLYFS="$ROOT/$BUILD_DIR/lightlyfs"
[[ $BUILD_DIR = /* ]] && LIGHTLYFS="$BUILD_DIR/lightlyfs"
VERSION=$("$LIGHTLYFS" --version 2>&1 | head -1 || true)
GITREV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- src include 2>/dev/null || GITREV="$GITREV+uncommitted src changes"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log "starting the emulator with $SAMPLES samples"
EMU_T0=$(date +%s.%N)
"$PY" "$ROOT/scripts/lightly_emulator.py" --port 0 --token "$TOKEN" \
	--state "$WORK/emulator.sqlite" --dataset "$DS_NAME:$SAMPLES" \
	>"$WORK/emulator.out" 2>"$WORK/emulator.err" &
EMU_PID=$!
PIDS+=("$EMU_PID")
PORT=""
for _ in $(seq 1 3000); do
	PORT=$(sed -n 's/^port=\([0-9]*\)$/\1/p' "$WORK/emulator.out")
	[ -n "$PORT" ] && break
	kill -0 "$EMU_PID" 2>/dev/null || break
	sleep 0.1
done
[ -n "$PORT" ] || { cat "$WORK/emulator.err" >&2; die "the emulator did not start"; }
EMU_T=$(awk -v a="$EMU_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
BASE="http://127.0.0.1:$PORT"
DS_ID=$(curl -fsS "$BASE/v1/datasets?token=$TOKEN" |
	"$PY" -c 'import json,sys; print([d["id"] for d in json.load(sys.stdin) if d["name"] == sys.argv[1]][0])' "$DS_NAME")

log "creating 9 more tags through the API"
"$PY" "$HELPER" tags "$BASE" "$TOKEN" "$DS_ID" "$SAMPLES" "$WORK/tags.tsv"
mapfile -t TAGS < <(cut -f1 "$WORK/tags.tsv")
FULL_TAG=${TAGS[0]}
TAG_LIST=$(awk -F'\t' '{ printf "%s%s (%d)", (NR > 1 ? ", " : ""), $1, $2 }' "$WORK/tags.tsv")
TAG_ENTRIES=$(awk -F'\t' '{ s += $2 } END { print s }' "$WORK/tags.tsv")
SMALL_TAG=$(awk -F'\t' '$1 == "first-10pct" { print $1 }' "$WORK/tags.tsv")
SMALL_N=$(awk -F'\t' '$1 == "first-10pct" { print $2 }' "$WORK/tags.tsv")

log "filling a tmpfs with the same names ($TAG_ENTRIES entries)"
TMPFS="$WORK/tmpfs"
mkdir -p "$TMPFS"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=4g,nr_inodes=0,mode=0755 lightlyfs-bench "$TMPFS" 2>/dev/null; then
	TMPFS_MOUNTED="$TMPFS"
	TMPFS_KIND="tmpfs mounted at a temp dir"
else
	SHM_DIR=$(mktemp -d /dev/shm/lightlyfs-bench.XXXXXX)
	TMPFS="$SHM_DIR"
	TMPFS_KIND="a /dev/shm subdirectory"
fi
# $TMPFS/<dataset>/<tag>/<file>: the same depth as $MNT/<dataset>/<tag>/<file>
TDS="$TMPFS/$DS_NAME"
mkdir "$TDS"
TREE_T=$(tcmd "$PY" "$HELPER" tree "$TDS" "$SAMPLES" "$WORK/tags.tsv") || die "could not fill the tmpfs"
note "tmpfs tree ($TMPFS_KIND): TMPFS/$DS_NAME/<tag>/<file>, the same depth as MOUNT/$DS_NAME/<tag>/<file>; one directory per tag, empty files, the same sample hard-linked into each tag that holds it (as lightlyfs shows it); built in $(fmt "$TREE_T")."

MNT="$WORK/mnt"
mkdir -p "$MNT"
FUSE_MOUNTS+=("$MNT")
FS_PID=""
mount_ours() {
	LIGHTLY_TOKEN=$TOKEN LIGHTLY_SERVER_LOCATION=$BASE \
		"$LIGHTLYFS" -f -o cache_ttl=3600 "$MNT" 2>>"$WORK/lightlyfs.log" &
	FS_PID=$!
	PIDS+=("$FS_PID")
	for _ in $(seq 1 300); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$FS_PID" 2>/dev/null || break
		sleep 0.05
	done
	tail -20 "$WORK/lightlyfs.log" >&2
	die "lightlyfs did not mount"
}
umount_ours() {
	fuse_unmount "$MNT"
	[ -n "$FS_PID" ] && reap "$FS_PID" 10
	FS_PID=""
}
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$FS_PID/status"; }
drop_caches() {
	sync
	if [ -w /proc/sys/vm/drop_caches ]; then
		echo 2 >/proc/sys/vm/drop_caches 2>/dev/null || true
	fi
}
OURS_FULL="$MNT/$DS_NAME/$FULL_TAG"
TMP_FULL="$TDS/$FULL_TAG"
STAT_NAME=$(printf 'sample_%07d.jpg' $((SAMPLES / 2)))
MIN_PAGES=$(( (SAMPLES + PAGE - 1) / PAGE ))

# ------------------------------------------------------------ cold ls -f
log "cold ls -f of $FULL_TAG: $COLD_RUNS fresh mounts"
cold=() cold_reqs=() cold_maps=()
for _ in $(seq 1 "$COLD_RUNS"); do
	mount_ours
	stats_reset
	if t=$(tcmd ls -f "$OURS_FULL"); then cold+=("$t"); else cold+=(ERR); log "ls -f failed on a fresh mount"; fi
	s=$(stats)
	cold_reqs+=("$(stats_field "$s" 4)")
	cold_maps+=("$(stats_field "$s" 2)")
	umount_ours
done
COLD_OURS=$(if [[ " ${cold[*]} " = *" ERR "* ]]; then echo ERR; else median "${cold[@]}"; fi)
COLD_REQS=$(printf '%s\n' "${cold_reqs[@]}" | sort -u | paste -sd/ | sed 's|/| / |g')
PAGES=${cold_maps[0]}
[ "${PAGES:-0}" -gt 0 ] || PAGES=$MIN_PAGES

tmp=()
for _ in $(seq 1 "$COLD_RUNS"); do
	drop_caches
	tmp+=("$(tcmd ls -f "$TMP_FULL")")
done
COLD_TMP=$(median "${tmp[@]}")

log "raw transfer: curl of the same $PAGES mappings pages"
curl_args=()
for i in $(seq 0 $((PAGES - 1))); do
	curl_args+=(-o /dev/null "$BASE/v1/datasets/$DS_ID/mappings?field=fileName&pageSize=$PAGE&pageOffset=$((i * PAGE))&token=$TOKEN")
done
raw=()
for _ in $(seq 1 "$COLD_RUNS"); do raw+=("$(tcmd curl -fsS "${curl_args[@]}")"); done
COLD_RAW=$(median "${raw[@]}")

row "emulator: creates the dataset of $SAMPLES samples (\`--dataset $DS_NAME:$SAMPLES\`, start to listening)" \
	"$(fmt "$EMU_T")" "—" "—" "< 60 s" "$(awk -v t="$EMU_T" 'BEGIN { print (t < 60) ? "PASS" : "FAIL" }')" "—"
R=$(ratio "$COLD_OURS" "$COLD_TMP")
row "\`ls -f\` of the full tag ($SAMPLES files), cold (fresh mount), median of $COLD_RUNS" \
	"$(fmt "$COLD_OURS")" "tmpfs $(fmt "$COLD_TMP")" "$R" "≤ 1.25×" "$(verdict "$R" 1.25)" "$COLD_REQS per run"
R=$(ratio "$COLD_OURS" "$COLD_RAW")
row "\`ls -f\` of the full tag, cold, vs the raw transfer" \
	"$(fmt "$COLD_OURS")" "serial curl of the $PAGES pages $(fmt "$COLD_RAW")" "$R" "≤ 2.5×" "$(verdict "$R" 2.5)" "curl: $PAGES mappings"
# What a cold ls -f costs with no fetch at all: every name in the daemon,
# the kernel's cached listing (and its dentries and inodes) dropped, so each
# batch is a READDIR the kernel copies into its cache again.
mount_ours
tcmd ls -f "$OURS_FULL" >/dev/null || true
floor=()
for _ in $(seq 1 "$COLD_RUNS"); do
	drop_caches
	floor+=("$(tcmd ls -f "$OURS_FULL" || echo ERR)")
done
umount_ours
LSF_FLOOR=$(if [[ " ${floor[*]} " = *" ERR "* ]]; then echo ERR; else median "${floor[@]}"; fi)
row "\`ls -f\` of the full tag with the daemon warm, the kernel's cached listing dropped (\`drop_caches\`), median of $COLD_RUNS" \
	"$(fmt "$LSF_FLOOR")" "tmpfs $(fmt "$COLD_TMP"); serial curl $(fmt "$COLD_RAW")" \
	"$(ratio "$LSF_FLOOR" "$COLD_TMP") tmpfs; $(ratio "$LSF_FLOOR" "$COLD_RAW") curl" "(floor of the cold rows)" "—" "0 mappings"
datum "lightlyfs, cold (fresh mount)" "$COLD_OURS"
datum "serial curl of the name pages" "$COLD_RAW"

# ------------------------------------------------------------ every tag, cold: requests and memory
log "cold listing of every tag (fresh mount): requests and memory"
mount_ours
HWM_IDLE=$(hwm_kb)
stats_reset
# shellcheck disable=SC2016 # the inner bash expands "$@" and "$d", not this one
t=$(tcmd bash -c 'for d in "$@"; do ls -f "$d" || exit 1; done' _ "${TAGS[@]/#/$MNT/$DS_NAME/}") || t=ERR
s=$(stats)
ALL_T=$t
ALL_TOTAL=$(stats_field "$s" 1) ALL_MAPS=$(stats_field "$s" 2) ALL_TAGREQ=$(stats_field "$s" 3)
ALL_SUM=$(stats_field "$s" 4)
HWM_ALL=$(hwm_kb)
DAEMON_STATS=$(cat "$MNT/.lightly/stats" 2>/dev/null || echo n/a)
umount_ours
ok=FAIL
[ "$ALL_TAGREQ" = 1 ] && [ "$ALL_MAPS" = "$MIN_PAGES" ] && [ "$ALL_TOTAL" = $((1 + MIN_PAGES)) ] && ok=PASS
[ "${ALL_MAPS:-0}" -gt "$MIN_PAGES" ] &&
	note "the cold listing asked for $ALL_MAPS mappings pages where $MIN_PAGES hold the $SAMPLES names (pageSize $PAGE): $((ALL_MAPS - MIN_PAGES)) more, past the end (the emulator answers [] there; the dataset's nSamples says where the names end)."
row "requests: cold listing of every tag (${#TAGS[@]} tags, $TAG_ENTRIES entries; took $(fmt "$ALL_T"))" \
	"$ALL_TOTAL" "1 tags + ⌈N/$PAGE⌉ = $MIN_PAGES mappings" "—" "= $((1 + MIN_PAGES))" "$ok" "$ALL_SUM"

NAMEBYTES=$("$PY" "$HELPER" namebytes "$SAMPLES")
BUDGET=$(( 48 * SAMPLES + (SAMPLES * ${#TAGS[@]} + 7) / 8 ))
BUDGET_KB=$(( BUDGET / 1024 ))
mem_ok=$(awk -v a="$HWM_ALL" -v b="$BUDGET_KB" 'BEGIN { print (a <= b) ? "PASS" : "FAIL" }')
row "memory: daemon peak RSS (VmHWM) after listing every tag" \
	"$(awk -v k="$HWM_ALL" 'BEGIN { printf "%.1f MiB", k / 1024 }')" \
	"budget $(awk -v k="$BUDGET_KB" 'BEGIN { printf "%.1f MiB", k / 1024 }') = 48 B×$SAMPLES (names included) + 1 bit×$SAMPLES×${#TAGS[@]}" \
	"$(awk -v a="$HWM_ALL" -v b="$BUDGET_KB" 'BEGIN { printf "%.2f×", a / b }')" "≤ 1.00×" "$mem_ok" "—"
note "daemon memory: VmHWM $(awk -v k="$HWM_IDLE" 'BEGIN { printf "%.1f MiB", k / 1024 }') right after the mount, $(awk -v k="$HWM_ALL" 'BEGIN { printf "%.1f MiB", k / 1024 }') after listing every tag: growth $(awk -v a="$HWM_ALL" -v b="$HWM_IDLE" -v n="$SAMPLES" 'BEGIN { printf "%.1f B/sample", (a - b) * 1024 / n }') (names alone are $(awk -v a="$NAMEBYTES" -v n="$SAMPLES" 'BEGIN { printf "%.1f", a / n }') B/sample); the budget is checked against the whole VmHWM."

# ------------------------------------------------------------ concurrent cold ls
log "$CONCURRENT concurrent cold ls -f of $FULL_TAG (fresh mount)"
mount_ours
stats_reset
# shellcheck disable=SC2016 # the inner bash expands $1, $2 and the rest, not this one
t=$(tcmd bash -c 'n=$1; d=$2; for i in $(seq 1 "$n"); do ls -f "$d" >/dev/null & done; fail=0; for j in $(jobs -p); do wait "$j" || fail=1; done; exit $fail' _ "$CONCURRENT" "$OURS_FULL") || t=ERR
s=$(stats)
CONC_MAPS=$(stats_field "$s" 2) CONC_TAGREQ=$(stats_field "$s" 3)
umount_ours
ok=FAIL
[ "$CONC_MAPS" = "$PAGES" ] && [ "$CONC_TAGREQ" -le 1 ] && ok=PASS
row "requests: $CONCURRENT concurrent cold \`ls -f\` of the full tag (took $(fmt "$t"))" \
	"$CONC_MAPS mappings" "one fetch = $PAGES mappings (as one cold \`ls -f\`)" "—" "one fetch" "$ok" "$(stats_field "$s" 4)"

# ------------------------------------------------------------ warm
log "warm workloads (one mount, cache_ttl=3600)"
mount_ours
WARM_REQS=0
# warm_pair LABEL TARGET OURS_CMD... -- TMPFS_CMD...: one warm-up each, then
# WARM_RUNS timed runs each; sets W_OURS, W_TMP, W_REQ
warm_pair() {
	local ours_cmd=() base_cmd=() ours_t=() base_t=() t s i
	while [ "$1" != "--" ]; do ours_cmd+=("$1"); shift; done
	shift
	base_cmd=("$@")
	tcmd "${ours_cmd[@]}" >/dev/null || true
	stats_reset
	for i in $(seq 1 "$WARM_RUNS"); do
		if t=$(tcmd "${ours_cmd[@]}"); then ours_t+=("$t"); else ours_t+=(ERR); fi
	done
	s=$(stats)
	W_REQ=$(stats_field "$s" 1)
	WARM_REQS=$((WARM_REQS + W_REQ))
	tcmd "${base_cmd[@]}" >/dev/null || true
	for i in $(seq 1 "$WARM_RUNS"); do base_t+=("$(tcmd "${base_cmd[@]}")"); done
	if [[ " ${ours_t[*]} " = *" ERR "* ]]; then W_OURS=ERR; else W_OURS=$(median "${ours_t[@]}"); fi
	W_TMP=$(median "${base_t[@]}")
}

# "WALL CPU" of ls -l DIR, CPU being ls's own user + system time
lsl_cpu() { "$PY" "$HELPER" cputime ls -l "$1" 2>>"$WORK/cmd.err" || echo "ERR ERR"; }
stats_reset
read -r LSL_FIRST LSL_FIRST_CPU <<<"$(lsl_cpu "$OURS_FULL")"
LSL_REQ=$(stats_field "$(stats)" 4)
drop_caches
read -r LSL_TMP LSL_TMP_CPU <<<"$(lsl_cpu "$TMP_FULL")"
R=$(ratio "$LSL_FIRST" "$LSL_TMP")
row "first \`ls -l\` of the full tag on a fresh mount (readdirplus; the fetch of the names and of the sizes is inside)" \
	"$(fmt "$LSL_FIRST")" "tmpfs \`ls -l\` $(fmt "$LSL_TMP")" "$R" "≤ 1.5×" "$(verdict "$R" 1.5)" "$LSL_REQ"
# What no daemon can take off a first ls -l: the kernel makes an inode and
# a dentry for each entry, on ls's own CPU.  Measured twice: ls's CPU time in
# the run above, and a whole ls -l with every size already in the daemon
# (no request) after the kernel has dropped its dentries and inodes.
R=$(ratio "$LSL_FIRST_CPU" "$LSL_TMP")
row "first \`ls -l\`: CPU time of the ls process itself (user + system)" \
	"$(fmt "$LSL_FIRST_CPU")" "tmpfs \`ls -l\` $(fmt "$LSL_TMP") (its CPU $(fmt "$LSL_TMP_CPU"))" "$R" "(floor of the row above)" "—" "—"
drop_caches
stats_reset
read -r LSL_FLOOR _ <<<"$(lsl_cpu "$OURS_FULL")"
R=$(ratio "$LSL_FLOOR" "$LSL_TMP")
row "first \`ls -l\` with the daemon warm, the kernel's dentries and inodes dropped (\`drop_caches\`)" \
	"$(fmt "$LSL_FLOOR")" "tmpfs \`ls -l\` $(fmt "$LSL_TMP")" "$R" "(floor of the first \`ls -l\`)" "—" "$(stats_field "$(stats)" 1) requests"

warm_pair ls -f "$OURS_FULL" -- ls -f "$TMP_FULL"
LSF_OURS=$W_OURS
datum "lightlyfs, warm" "$W_OURS"
datum "tmpfs" "$W_TMP"
R=$(ratio "$W_OURS" "$W_TMP")
row "\`ls -f\` of the full tag, warm, median of $WARM_RUNS" "$(fmt "$W_OURS")" "tmpfs $(fmt "$W_TMP")" "$R" "≤ 1.2×" "$(verdict "$R" 1.2)" "$W_REQ in $WARM_RUNS runs"

warm_pair ls -l "$OURS_FULL" -- ls -l "$TMP_FULL"
R=$(ratio "$W_OURS" "$W_TMP")
row "\`ls -l\` of the full tag, warm, median of $WARM_RUNS" "$(fmt "$W_OURS")" "tmpfs $(fmt "$W_TMP")" "$R" "≤ 1.5×" "$(verdict "$R" 1.5)" "$W_REQ in $WARM_RUNS runs"

if [ -n "$SMALL_TAG" ]; then
	# ls -f fills the kernel's readdir cache without READDIRPLUS; the
	# first LOOKUP of the next ls -l drops it (include/rdplus.h)
	tcmd ls -f "$MNT/$DS_NAME/$SMALL_TAG" >/dev/null || true
	read -r t t_cpu <<<"$(lsl_cpu "$MNT/$DS_NAME/$SMALL_TAG")"
	drop_caches
	read -r b b_cpu <<<"$(lsl_cpu "$TDS/$SMALL_TAG")"
	R=$(ratio "$t" "$b")
	row "\`ls -l\` right after a first \`ls -f\` of tag $SMALL_TAG ($SMALL_N files)" \
		"$(fmt "$t") ($(awk -v t="$t" -v n="$SMALL_N" 'BEGIN { if (t + 0 > 0) printf "%.1f", t * 1e6 / n; else print "n/a" }') µs/entry)" \
		"tmpfs \`ls -l\` $(fmt "$b")" "$R" "≤ 1.5×" "$(verdict "$R" 1.5)" "—"
	R=$(ratio "$t_cpu" "$b")
	row "\`ls -l\` right after \`ls -f\`: CPU time of the ls process itself (user + system)" \
		"$(fmt "$t_cpu")" "tmpfs \`ls -l\` $(fmt "$b") (its CPU $(fmt "$b_cpu"))" "$R" "(floor of the row above)" "—" "—"
	drop_caches
	read -r t _ <<<"$(lsl_cpu "$MNT/$DS_NAME/$SMALL_TAG")"
	R=$(ratio "$t" "$b")
	row "\`ls -l\` of tag $SMALL_TAG with the daemon warm, the kernel's dentries and inodes dropped" \
		"$(fmt "$t")" "tmpfs \`ls -l\` $(fmt "$b")" "$R" "(floor of the row above)" "—" "—"
fi

warm_pair find "$MNT/$DS_NAME" -- find "$TDS"
FIND_OURS=$W_OURS
R=$(ratio "$W_OURS" "$W_TMP")
row "\`find\` over the dataset (${#TAGS[@]} tags, $TAG_ENTRIES entries), warm, median of $WARM_RUNS" "$(fmt "$W_OURS")" "tmpfs $(fmt "$W_TMP")" "$R" "≤ 1.5×" "$(verdict "$R" 1.5)" "$W_REQ in $WARM_RUNS runs"

# stat: per-call µs from a tight os.stat loop (loop overhead subtracted)
statloop() {
	local out=() i
	for i in $(seq 1 "$WARM_RUNS"); do
		out+=("$(timeout "$CAP" "$PY" "$HELPER" statloop "$1" "$STAT_CALLS" 2>>"$WORK/cmd.err" || echo ERR)")
	done
	if [[ " ${out[*]} " = *" ERR "* ]]; then echo ERR; else median "${out[@]}"; fi
}
stats_reset
STAT_OURS=$(statloop "$OURS_FULL/$STAT_NAME")
s=$(stats)
W_REQ=$(stats_field "$s" 1)
WARM_REQS=$((WARM_REQS + W_REQ))
STAT_TMP=$(statloop "$TMP_FULL/$STAT_NAME")
fmt_us() { isnum "$1" && awk -v u="$1" 'BEGIN { printf "%.2f µs", u }' || echo "$1"; }
R=$(ratio "$STAT_OURS" "$STAT_TMP")
row "\`stat\` of one file, warm, per call ($STAT_CALLS calls × $WARM_RUNS, median)" "$(fmt_us "$STAT_OURS")" "tmpfs $(fmt_us "$STAT_TMP")" "$R" "(info)" "—" "$W_REQ in $WARM_RUNS runs"

HWM_END=$(hwm_kb)
note "daemon VmHWM at the end of the warm workloads (after \`ls -l\` of $SAMPLES files and \`find\`): $(awk -v k="$HWM_END" 'BEGIN { printf "%.1f MiB", k / 1024 }')."
umount_ours
row "requests: all warm workloads together" "$WARM_REQS" "—" "—" "0" "$([ "$WARM_REQS" = 0 ] && echo PASS || echo FAIL)" "after one warm-up run of each"

# ------------------------------------------------------------ rclone and sshfs
# other_measure NAME CMD...: warm-up, then timed runs (WARM_RUNS, or 3 when a
# run takes over 10 s); each run is cut off after CAP seconds.  Prints the
# median, ">CAP" or ERR; writes the warm-up time to $WORK/first.NAME.
other_measure() {
	local name=$1 t rc n i out=()
	shift
	rc=0
	t=$(tcmd timeout "$CAP" "$@") || rc=$?
	if [ "$rc" = 124 ]; then echo ">$CAP" >"$WORK/first.$name"; echo ">$CAP"; return; fi
	[ "$rc" = 0 ] || { echo ERR >"$WORK/first.$name"; echo ERR; return; }
	echo "$t" >"$WORK/first.$name"
	n=$WARM_RUNS
	awk -v t="$t" 'BEGIN { exit !(t > 10) }' && [ "$n" -gt 3 ] && n=3
	for i in $(seq 1 "$n"); do
		rc=0
		t=$(tcmd timeout "$CAP" "$@") || rc=$?
		if [ "$rc" = 124 ]; then echo ">$CAP"; return; fi
		[ "$rc" = 0 ] || { echo ERR; return; }
		out+=("$t")
	done
	echo "$(median "${out[@]}") ${#out[@]}"
}
# other_rows NAME LSF FIND STAT: three rows, ours against NAME
other_rows() {
	local name=$1 lsf=$2 find=$3 stat=$4 v n R res
	for w in lsf find stat; do
		v=${!w}
		n=""
		[[ $v = *" "* ]] && { n=${v#* }; v=${v% *}; }
		case $w in
		lsf) ours=$LSF_OURS max=1 target="< 1× (faster)" label="\`ls -f\` of the full tag, warm" ;;
		find) ours=$FIND_OURS max=1 target="< 1× (faster)" label="\`find\` over the dataset, warm" ;;
		stat) ours=$STAT_OURS max=1.05 target="< 1.05× (kernel-cached on both: equal)" label="\`stat\` of one file, warm, per call" ;;
		esac
		if [[ $v = ">"* ]]; then
			R="< $(ratio "$ours" "${v#>}")"
			res=$(awk -v o="$ours" -v c="${v#>}" 'BEGIN { print (o + 0 < c) ? "PASS" : "FAIL" }')
			shown="$name > ${v#>} s (cut off)"
		elif isnum "$v"; then
			R=$(ratio "$ours" "$v")
			res=$(awk -v r="${R%×}" -v m="$max" 'BEGIN { print (r < m) ? "PASS" : "FAIL" }')
			if [ "$w" = stat ]; then shown="$name $(fmt_us "$v")"; else shown="$name $(fmt "$v")"; fi
			[ -n "$n" ] && shown="$shown (median of $n)"
		else
			R=n/a res=n/a shown="$name $v"
		fi
		if [ "$w" = stat ]; then o=$(fmt_us "$ours"); else o=$(fmt "$ours"); fi
		row "$label, vs $name" "$o" "$shown" "$R" "$target" "$res" "—"
	done
}
other_na() {
	local name=$1 why=$2
	row "\`ls -f\` / \`find\` / \`stat\`, warm, vs $name" "—" "n/a ($why)" "n/a" "< 1× (faster)" "n/a" "—"
}

# other_first NAME CMD...: above a million samples the peers get one
# listing, cut off after CAP (at a million their warm ls -f took 15 s and
# more than 60 s; ten times the entries cannot finish in the cap).  A
# listing blocked in the kernel ignores signals (timeout(1) cannot end it):
# past CAP the peer's mount (PEER_MNT, daemon PEER_PID) is aborted.
other_first() {
	local name=$1 t rc=0 shown R res p n t0
	shift
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>>"$WORK/cmd.err" &
	p=$!
	n=$((CAP * 10))
	while [ "$n" -gt 0 ] && kill -0 "$p" 2>/dev/null; do sleep 0.1; n=$((n - 1)); done
	if kill -0 "$p" 2>/dev/null; then
		rc=124
		fusermount3 -uz "$PEER_MNT" 2>/dev/null || umount -l "$PEER_MNT" 2>/dev/null || true
		kill -9 "$PEER_PID" 2>/dev/null || true
	fi
	wait "$p" 2>/dev/null || [ "$rc" = 124 ] || rc=$?
	t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.6f", b - a }')
	if [ "$rc" = 124 ]; then
		t=">$CAP" shown="$name > $CAP s (cut off)"
		R="< $(ratio "$COLD_OURS" "$CAP")"
		res=$(awk -v o="$COLD_OURS" -v c="$CAP" 'BEGIN { print (o + 0 < c) ? "PASS" : "FAIL" }')
	elif [ "$rc" = 0 ]; then
		shown="$name $(fmt "$t")" R=$(ratio "$COLD_OURS" "$t")
		res=$(awk -v r="${R%×}" 'BEGIN { print (r < 1) ? "PASS" : "FAIL" }')
	else
		t=ERR shown="$name failed" R=n/a res=n/a
	fi
	datum "$name, first ls -f" "$t"
	row "first \`ls -f\` of the full tag: ours cold vs $name's first" "$(fmt "$COLD_OURS")" "$shown" "$R" "< 1× (faster)" "$res" "—"
	echo "$t" >"$WORK/first.$name-lsf"
	echo "(not run)" >"$WORK/first.$name-find"
}
QUICK_OTHERS=0
[ "$SAMPLES" -gt 1000000 ] && QUICK_OTHERS=1

# peer_rows NAME MOUNT PID: the rows (and chart data) of a peer mounted at
# MOUNT, serving the tmpfs tree
peer_rows() {
	local name=$1 m=$2 pid=$3 lsf find stat
	if [ "$QUICK_OTHERS" = 1 ]; then
		PEER_MNT=$m PEER_PID=$pid other_first "$name" ls -f "$m/$DS_NAME/$FULL_TAG"
		return
	fi
	lsf=$(other_measure "$name-lsf" ls -f "$m/$DS_NAME/$FULL_TAG")
	find=$(other_measure "$name-find" find "$m/$DS_NAME")
	stat=$(statloop "$m/$DS_NAME/$FULL_TAG/$STAT_NAME")
	other_rows "$name" "$lsf" "$find" "$stat"
	datum "$name, first ls -f" "$(cat "$WORK/first.$name-lsf")"
	datum "$name, warm" "${lsf% *}"
}

if [ "$OTHERS" = 1 ]; then
	# rclone
	if command -v rclone >/dev/null; then
		log "rclone mount of the tmpfs"
		RMNT="$WORK/rclone"
		mkdir -p "$RMNT"
		: >"$WORK/rclone.conf"
		FUSE_MOUNTS+=("$RMNT")
		rclone mount "$TMPFS" "$RMNT" --read-only --vfs-cache-mode off \
			--dir-cache-time 1h --attr-timeout 1h --config "$WORK/rclone.conf" \
			--log-file "$WORK/rclone.log" &
		RC_PID=$!
		PIDS+=("$RC_PID")
		for _ in $(seq 1 200); do mountpoint -q "$RMNT" && break; kill -0 "$RC_PID" 2>/dev/null || break; sleep 0.1; done
		if mountpoint -q "$RMNT"; then
			peer_rows rclone "$RMNT" "$RC_PID"
			note "rclone $(rclone version 2>/dev/null | head -1 | awk '{ print $2 }') mount of the tmpfs (--vfs-cache-mode off --dir-cache-time 1h --attr-timeout 1h --read-only): first \`ls -f\` $(fmt "$(cat "$WORK/first.rclone-lsf")"), first \`find\` $(fmt "$(cat "$WORK/first.rclone-find")"); peak RSS $(awk '/^VmHWM:/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$RC_PID/status" 2>/dev/null)."
		else
			other_na rclone "rclone mount failed: $(tail -1 "$WORK/rclone.log" 2>/dev/null)"
		fi
		fuse_unmount "$RMNT"
		reap "$RC_PID" 10
	else
		other_na rclone "rclone is not installed"
	fi

	# sshfs over a private sshd on localhost
	SSHD=$(command -v sshd || echo /usr/sbin/sshd)
	if command -v sshfs >/dev/null && [ -x "$SSHD" ]; then
		log "sshfs of the tmpfs through a private sshd"
		K="$WORK/ssh"
		mkdir -p "$K"
		chmod 700 "$K"
		ssh-keygen -q -t ed25519 -N '' -f "$K/host_key"
		ssh-keygen -q -t ed25519 -N '' -f "$K/id"
		cp "$K/id.pub" "$K/authorized_keys"
		chmod 600 "$K/authorized_keys"
		SPORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		cat >"$K/sshd_config" <<-EOF
			Port $SPORT
			ListenAddress 127.0.0.1
			HostKey $K/host_key
			PidFile $K/sshd.pid
			AuthorizedKeysFile $K/authorized_keys
			PermitRootLogin prohibit-password
			PubkeyAuthentication yes
			PasswordAuthentication no
			KbdInteractiveAuthentication no
			UsePAM no
			StrictModes no
			Subsystem sftp internal-sftp
		EOF
		: >"$K/ssh_config"
		if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then mkdir -p /run/sshd && MADE_RUN_SSHD=1; fi
		"$SSHD" -D -f "$K/sshd_config" -E "$K/sshd.log" &
		SSHD_PID=$!
		PIDS+=("$SSHD_PID")
		for _ in $(seq 1 50); do grep -q "listening" "$K/sshd.log" 2>/dev/null && break; kill -0 "$SSHD_PID" 2>/dev/null || break; sleep 0.1; done
		SMNT="$WORK/sshfs"
		mkdir -p "$SMNT"
		FUSE_MOUNTS+=("$SMNT")
		SSHFS_OPTS="IdentityFile=$K/id,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,BatchMode=yes,ro"
		SSHFS_OPTS="$SSHFS_OPTS,dcache_timeout=3600,dcache_max_size=100000000,entry_timeout=3600,attr_timeout=3600"
		sshfs -f -F "$K/ssh_config" -p "$SPORT" -o "$SSHFS_OPTS" \
			"$(id -un)@127.0.0.1:$TMPFS" "$SMNT" 2>"$WORK/sshfs.log" &
		SF_PID=$!
		PIDS+=("$SF_PID")
		for _ in $(seq 1 200); do mountpoint -q "$SMNT" && break; kill -0 "$SF_PID" 2>/dev/null || break; sleep 0.1; done
		if mountpoint -q "$SMNT"; then
			peer_rows sshfs "$SMNT" "$SF_PID"
			note "sshfs $(sshfs --version 2>&1 | sed -n 's/^SSHFS version //p') to a private sshd on 127.0.0.1 (-o dcache_timeout=3600,dcache_max_size=1e8,entry_timeout=3600,attr_timeout=3600: generous caching; the defaults are slower still): first \`ls -f\` $(fmt "$(cat "$WORK/first.sshfs-lsf")"), first \`find\` $(fmt "$(cat "$WORK/first.sshfs-find")")."
		else
			why=$(tail -1 "$WORK/sshfs.log" 2>/dev/null)
			[ -n "$why" ] || why=$(tail -1 "$K/sshd.log" 2>/dev/null)
			other_na sshfs "sshfs mount failed: ${why:-unknown}"
		fi
		fuse_unmount "$SMNT"
		reap "$SF_PID" 10
		kill "$SSHD_PID" 2>/dev/null || true
		reap "$SSHD_PID" 5
	else
		other_na sshfs "sshfs or sshd is not installed"
	fi
else
	other_na "rclone and sshfs" "skipped: --no-others"
fi

KERNEL=$(uname -r)
row "kernel" "$KERNEL" "—" "—" "—" "—" "—"

# ------------------------------------------------------------ report
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( $(date +%s) - START ))
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)

note "cold \`ls -f\` = fresh mount each run (unmount, remount, then time the listing; the fetch of the names is inside). tmpfs cannot really be cold: its 'cold' runs follow \`echo 2 > /proc/sys/vm/drop_caches\`$([ -w /proc/sys/vm/drop_caches ] || echo ' (not possible here: not root)'), which cannot evict tmpfs dentries; the point of that row is ours-cold against an in-memory filesystem."
note "warm = one untimed run first, then $WARM_RUNS timed runs, median; ours mounted with \`-o cache_ttl=3600\`. Times are wall clock (\`date +%s.%N\`) of the whole command with stdout to /dev/null."
note "\`stat\` per call: python \`os.stat\` of one path in a loop of $STAT_CALLS calls, minus the same loop's overhead; median of $WARM_RUNS processes."
note "a warm \`stat\` never reaches any FUSE daemon (the kernel answers from its attribute cache: ours with cache_ttl=3600, rclone and sshfs with the 1 h attribute timeouts given below), so the three are equal up to noise; the stat rows against rclone/sshfs count a ratio under 1.05× as not slower."
note "rclone and sshfs serve the same tmpfs directory; their timed runs are $WARM_RUNS (3 when one run takes over 10 s, to bound the run time), each cut off after $CAP s."
note "requests are counted by the emulator (\`/_emulator/stats\`), reset before each measurement; mappings pages are $PAGE names each."
note "daemon counters after listing every tag (\`.lightly/stats\`): \`$DAEMON_STATS\`."
note "lightlyfs: $VERSION, git $GITREV; load average at start $LOAD_START, at end $LOAD_END; the whole script took $ELAPSED s."

{
	echo "## $SAMPLES samples"
	echo
	echo "Command: \`$COMMAND\` (run from the repository root; $(date -u '+%Y-%m-%d %H:%M UTC'))"
	echo
	echo "Machine: $(nproc) CPUs ($CPU), $MEM memory, kernel $KERNEL."
	echo
	echo "Dataset: $SAMPLES samples \`sample_%07d.jpg\` in the emulator (\`scripts/lightly_emulator.py\`), ${#TAGS[@]} tags: $TAG_LIST."
	echo
	echo "| workload | ours | baseline | ratio (ours / baseline) | target | result | API requests (ours) |"
	echo "|---|---|---|---|---|---|---|"
	cat "$ROWS"
	echo
	echo "Notes:"
	echo
	cat "$NOTES"
} >"$WORK/RESULTS.md"

mkdir -p "$ROOT/bench/results" "$ROOT/bench/data"
cp "$WORK/RESULTS.md" "$ROOT/bench/results/$SAMPLES.md"
cp "$DATA" "$ROOT/bench/data/$SAMPLES.tsv"
# Debian's python3 (python3-matplotlib), whatever python3 is first in PATH
CHART_PY=${CHART_PYTHON:-/usr/bin/python3}
"$CHART_PY" "$ROOT/bench/report.py" "$ROOT/bench" "$ROOT/docs/listing-time.png" ||
	log "warning: bench/report.py failed (the chart needs python3-matplotlib)"
cat "$WORK/RESULTS.md"
echo
echo "(written to bench/results/$SAMPLES.md, gathered in bench/RESULTS.md; chart docs/listing-time.png)"
exit 0
