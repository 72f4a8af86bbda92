#!/usr/bin/env bash
# Benchmark of sample content (issue 10, "Measured"): copying a tag's images
# out of the mount, against baselines measured in the same run on the same
# emulator.  A measurement, not a test: it exits 0 whatever the figures are,
# and marks each target PASS or FAIL.
#
#   bench/content.sh [--samples N] [--runs N] [--big-mb N] [--out FILE]
#                    [--no-build]
#
#   --samples N  images in the copied tag (default 300; the issue's figure is
#                2000, ~200 MB: bench/content.sh --samples 2000)
#   --runs N     timed runs of each workload, median (default 3)
#   --big-mb N   size of the one big sample read sequentially (default 50)
#   --out FILE   also write the table (markdown) to FILE
#   --no-build   use BUILD_DIR/lightlyfs as it is
#
# Workloads: (1) cold `cp -r` of the tag (fresh mount, empty content cache)
# vs the official client's way (readurl + GET per sample, 8 threads, python
# urllib) and vs `xargs -P8 curl` of the same signed URLs fetched beforehand
# (the transfer limit); (2) `cat` of one big sample vs one `curl` of its URL;
# (3) the same copy warm (content cache filled) vs `cp -r` from tmpfs;
# (4) the daemon's peak RSS during the cold copy and the cache dir's size.
# Everything it starts lives in a temporary directory and is unmounted,
# stopped and removed at exit.  Environment: BUILD_DIR (default build),
# PYTHON (default python3), TMPDIR, LIGHTLYFS_BENCH_OPTS (more -o options
# for our mounts, for A/B runs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SAMPLES=300
RUNS=3
BIG_MB=50
OUT=""
BUILD=1
TOKEN=bench-content-token
DS_NAME=content-bench
BIG_NAME=content-big
MIN_BYTES=4096     # sample sizes: log-uniform MIN..MAX (mean ~105 KB)
MAX_BYTES=524288
PREFETCH_MB=64     # the issue's bound on bytes in flight

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }
ARGS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--samples) SAMPLES=${2:?}; ARGS+=("$1" "$2"); shift 2 ;;
	--runs) RUNS=${2:?}; ARGS+=("$1" "$2"); shift 2 ;;
	--big-mb) BIG_MB=${2:?}; ARGS+=("$1" "$2"); shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	--no-build) BUILD=0; ARGS+=("$1"); shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
done
for v in SAMPLES RUNS BIG_MB; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer" >&2; exit 2; }
done
[ "$BIG_MB" -le 64 ] || { echo "--big-mb: the emulator serves at most 64 MiB" >&2; exit 2; }
case " ${ARGS[*]:-} " in *" --samples "*) ;; *) ARGS=(--samples "$SAMPLES" "${ARGS[@]}") ;; esac
COMMAND="bench/content.sh ${ARGS[*]}"

PY=${PYTHON:-python3}
BUILD_DIR=${BUILD_DIR:-build}
START=$(date +%s)
log() { printf '[content %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

echo "# reproduce: $COMMAND"
echo

# ------------------------------------------------------------ tidy exit
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lightlyfs-content.XXXXXX")
SHM_DIR=""
MNT="$WORK/mnt"
FS_PID=""
EMU_PID=""

# reap PID SECONDS: waits for our child PID to end, then kills it
reap() {
	local pid=$1 n=$(( ${2:-10} * 10 ))
	while [ "$n" -gt 0 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; n=$((n - 1)); done
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		sleep 0.5
		kill -9 "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}
fuse_unmount() {
	mountpoint -q "$1" 2>/dev/null || return 0
	fusermount3 -u "$1" 2>/dev/null || fusermount3 -uz "$1" 2>/dev/null || true
}
# shellcheck disable=SC2317 # runs from the EXIT trap
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	fuse_unmount "$MNT"
	[ -n "$FS_PID" ] && reap "$FS_PID" 5
	if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null; reap "$EMU_PID" 5; fi
	[ -n "$SHM_DIR" ] && rm -rf --one-file-system "$SHM_DIR"
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
# The python side: seeding, the official client's way, URL lists, stats.
HELPER="$WORK/helper.py"
cat >"$HELPER" <<'PY'
import concurrent.futures, json, math, os, random, sys, urllib.request

def req(base, tok, method, path, body=None):
    if tok:
        path += ("&" if "?" in path else "?") + "token=" + tok
    r = urllib.request.Request(base + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(r) as f:
        data = f.read()
    return json.loads(data) if data else None

def seed(base, tok, name, n, lo, hi, big_name, big_bytes):
    """A dataset of n images, log-uniform sizes lo..hi (two JPEGs to one PNG),
    and a second one holding one big PNG; prints 'DS BIG_DS TOTAL_BYTES'."""
    rnd = random.Random(10)
    ds = req(base, tok, "POST", "/v1/datasets", {"name": name})["id"]
    files = []
    for i in range(n):
        size = int(math.exp(rnd.uniform(math.log(lo), math.log(hi))))
        files.append(("img_%05d.%s" % (i, "png" if i % 3 == 2 else "jpg"), size))
    def add(f):
        req(base, tok, "POST", "/v1/datasets/%s/samples" % ds,
            {"fileName": f[0], "metaData": {"sizeInBytes": f[1]}})
    # created in order (index order = name order), 8 at a time per batch
    for start in range(0, n, 64):
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(add, files[start:start + 64]))
    req(base, tok, "POST", "/v1/datasets/%s/tags/initial" % ds, {"imgType": "full", "name": "initial-tag"})
    big = req(base, tok, "POST", "/v1/datasets", {"name": big_name})["id"]
    req(base, tok, "POST", "/v1/datasets/%s/samples" % big,
        {"fileName": "big.png", "metaData": {"sizeInBytes": big_bytes}})
    req(base, tok, "POST", "/v1/datasets/%s/tags/initial" % big, {"imgType": "full", "name": "initial-tag"})
    print(ds, big, sum(s for _, s in files))

def samples(base, tok, ds):
    return req(base, tok, "GET", "/v1/datasets/%s/samples" % ds)

def readurl(base, tok, ds, sid):
    return req(base, tok, "GET", "/v1/datasets/%s/samples/%s/readurl?type=full" % (ds, sid))

def official(base, tok, ds, out):
    """The official downloader's way: one readurl and one GET per sample, 8 threads."""
    os.makedirs(out, exist_ok=True)
    def one(s):
        url = readurl(base, tok, ds, s["id"])
        with urllib.request.urlopen(url) as f, open(os.path.join(out, s["fileName"]), "wb") as o:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                o.write(b)
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(one, samples(base, tok, ds)))

def urls(base, tok, ds, out):
    """xargs input for curl: 'OUTFILE' and 'URL' lines, alternating."""
    for s in samples(base, tok, ds):
        print(os.path.join(out, s["fileName"]))
        print(readurl(base, tok, ds, s["id"]))

def storage(base):
    with urllib.request.urlopen(base + "/_emulator/stats/storage") as f:
        st = json.load(f)
    with urllib.request.urlopen(base + "/_emulator/stats") as f:
        routes = json.load(f)["routes"]
    ru = routes.get("GET /v1/datasets/{datasetId}/samples/{sampleId}/readurl", 0)
    print("%d\t%d\t%d\t%d" % (st["requests"], st["bytes"], ru, st["withToken"]))

def median(vals):
    v = sorted(float(x) for x in vals)
    n = len(v)
    print("%.6f" % (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2))

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "seed":
    seed(args[0], args[1], args[2], int(args[3]), int(args[4]), int(args[5]), args[6], int(args[7]))
elif cmd == "official":
    official(*args)
elif cmd == "urls":
    urls(*args)
elif cmd == "bigurl":
    print(readurl(args[0], args[1], args[2], samples(args[0], args[1], args[2])[0]["id"]))
elif cmd == "storage":
    storage(args[0])
elif cmd == "median":
    median(args)
else:
    sys.exit("unknown command " + cmd)
PY
helper() { "$PY" "$HELPER" "$@"; }

# tcmd CMD...: runs CMD (stdout to /dev/null), prints its wall time in
# seconds; returns CMD's status
tcmd() {
	local t0 t1 rc=0
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>>"$WORK/cmd.err" || rc=$?
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }'
	return "$rc"
}
# timed CMD...: tcmd's time, or ERR when CMD failed
timed() {
	local t
	if t=$(tcmd "$@"); then echo "$t"; else echo ERR; fi
}
isnum() { [[ ${1:-} =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
median_or_err() { # values...: their median, or ERR when one is ERR
	[[ " $* " = *" ERR "* ]] && { echo ERR; return; }
	helper median "$@"
}
fmt() {
	isnum "${1:-}" || { echo "${1:-n/a}"; return; }
	awk -v s="$1" 'BEGIN { if (s < 1) printf "%.1f ms", s * 1000; else printf "%.2f s", s }'
}
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
rate() { # BYTES SECONDS -> MB/s
	isnum "${2:-}" || { echo "n/a"; return; }
	awk -v b="$1" -v s="$2" 'BEGIN { if (s <= 0) print "n/a"; else printf "%.0f MB/s", b / s / 1e6 }'
}
ratio() {
	if ! isnum "${1:-}" || ! isnum "${2:-}"; then echo "n/a"; return; fi
	awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "n/a"; else printf "%.2f×", a / b }'
}
# checked VERDICT BYTES: a copy with wrong bytes fails whatever its time
checked() { if [ "$2" = ok ]; then echo "$1"; else echo "FAIL (bytes)"; fi; }
verdict() { # RATIO MAX: PASS when RATIO < MAX (or <= with "le")
	local r=${1%×}
	isnum "$r" || { echo "n/a"; return; }
	awk -v r="$r" -v m="$2" -v le="${3:-}" 'BEGIN { print ((le ? r <= m : r < m) ? "PASS" : "FAIL") }'
}
ROWS="$WORK/rows.md"
NOTES="$WORK/notes.md"
: >"$ROWS"
: >"$NOTES"
row() { printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$@" >>"$ROWS"; }
note() { printf -- '- %s\n' "$*" >>"$NOTES"; }
# same_bytes DIR: "ok" when DIR holds exactly the reference copy's files and bytes
same_bytes() {
	if diff -rq "$REF" "$1" >/dev/null 2>&1; then echo ok; else echo MISMATCH; fi
}
# storage counters since the last reset: REQUESTS BYTES READURLS WITHTOKEN
stats_reset() { curl -fsS -X POST "$BASE/_emulator/stats/reset" >/dev/null; }
storage_stats() { helper storage "$BASE"; }

# ------------------------------------------------------------ setup
LIGHTLYFS="$ROOT/$BUILD_DIR/lightlyfs"
[[ $BUILD_DIR = /* ]] && LIGHTLYFS="$BUILD_DIR/lightlyfs"
if [ "$BUILD" = 1 ]; then
	log "building lightlyfs in $BUILD_DIR"
	if ! { cmake -S . -B "$BUILD_DIR" >"$WORK/build.log" 2>&1 &&
		cmake --build "$BUILD_DIR" -j"$(nproc)" --target lightlyfs >>"$WORK/build.log" 2>&1; }; then
		tail -30 "$WORK/build.log" >&2
		die "build failed"
	fi
fi
[ -x "$LIGHTLYFS" ] || die "no $LIGHTLYFS (build it, or drop --no-build)"
GITREV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- src include 2>/dev/null || GITREV="$GITREV+uncommitted src changes"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log "starting the emulator"
"$PY" "$ROOT/scripts/lightly_emulator.py" --port 0 --token "$TOKEN" \
	--state "$WORK/emulator.sqlite" >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
EMU_PID=$!
PORT=""
for _ in $(seq 1 600); do
	PORT=$(sed -n 's/^port=\([0-9]*\)$/\1/p' "$WORK/emulator.out")
	[ -n "$PORT" ] && break
	kill -0 "$EMU_PID" 2>/dev/null || break
	sleep 0.1
done
[ -n "$PORT" ] || { cat "$WORK/emulator.err" >&2; die "the emulator did not start"; }
BASE="http://127.0.0.1:$PORT"

log "seeding $SAMPLES images ($MIN_BYTES..$MAX_BYTES bytes, log-uniform) and one of $BIG_MB MiB"
read -r DS_ID BIG_ID TOTAL < <(helper seed "$BASE" "$TOKEN" "$DS_NAME" "$SAMPLES" \
	"$MIN_BYTES" "$MAX_BYTES" "$BIG_NAME" $((BIG_MB * 1048576)))
BIG_BYTES=$((BIG_MB * 1048576))
CACHE_MB=$(( (TOTAL + BIG_BYTES) * 2 / 1048576 + 64 ))
[ "$CACHE_MB" -ge 1024 ] || CACHE_MB=1024

# the reference copy, by the official way (untimed: it also renders every
# body once in the emulator, which keeps the most recent 160 MiB of them)
REF="$WORK/ref"
log "reference copy of the tag ($(mib "$TOTAL"))"
helper official "$BASE" "$TOKEN" "$DS_ID" "$REF" || die "the reference download failed"
DEST="$WORK/dest" # every copy goes to this local directory

# tmpfs copy of the reference, for the warm baseline
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	SHM_DIR=$(mktemp -d /dev/shm/lightlyfs-content.XXXXXX)
	TMPFS_SRC="$SHM_DIR/initial-tag"
	TMPFS_KIND="/dev/shm"
else
	TMPFS_SRC="$WORK/tmpfs-src/initial-tag"
	TMPFS_KIND="a local directory (no writable /dev/shm)"
fi
mkdir -p "$(dirname "$TMPFS_SRC")"
cp -r "$REF" "$TMPFS_SRC"

# ------------------------------------------------------------ our mount
# mount_ours: a fresh mount with the content cache in $CACHE; a daemon that
# does not know the content options is mounted without them (noted)
CACHE="$WORK/cache"
CONTENT_OPTS="cache_dir=$CACHE,content_cache_mb=$CACHE_MB"${LIGHTLYFS_BENCH_OPTS:+,$LIGHTLYFS_BENCH_OPTS}
OPTS_REFUSED=0
mount_ours() {
	local opts="cache_ttl=3600"
	[ "$OPTS_REFUSED" = 1 ] || opts="$opts,$CONTENT_OPTS"
	mkdir -p "$MNT"
	XDG_CACHE_HOME="$WORK/xdg-cache" LIGHTLY_TOKEN=$TOKEN LIGHTLY_SERVER_LOCATION=$BASE \
		"$LIGHTLYFS" -f -o "$opts" "$MNT" 2>>"$WORK/lightlyfs.log" &
	FS_PID=$!
	for _ in $(seq 1 300); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$FS_PID" 2>/dev/null || break
		sleep 0.05
	done
	wait "$FS_PID" 2>/dev/null || true
	FS_PID=""
	if [ "$OPTS_REFUSED" = 0 ] && grep -q "unknown option" "$WORK/lightlyfs.log"; then
		OPTS_REFUSED=1
		log "this lightlyfs refuses -o $CONTENT_OPTS: mounting without them"
		note "**this lightlyfs does not know \`-o cache_dir\`/\`content_cache_mb\`** (\`$(grep -m1 'unknown option' "$WORK/lightlyfs.log")\`): mounted without them, so its content cache (if any) is the default one under \$XDG_CACHE_HOME=$WORK/xdg-cache."
		mount_ours
		return
	fi
	tail -20 "$WORK/lightlyfs.log" >&2
	die "lightlyfs did not mount"
}
umount_ours() {
	fuse_unmount "$MNT"
	[ -n "$FS_PID" ] && reap "$FS_PID" 10
	FS_PID=""
}
hwm_kb() { awk '/^VmHWM:/ { k = $2 } END { print k + 0 }' "/proc/$FS_PID/status" 2>/dev/null || echo 0; }
cache_du() { # bytes used by the content cache, wherever it is
	local d out=0
	for d in "$CACHE" "$WORK/xdg-cache"; do
		[ -d "$d" ] && out=$((out + $(du -sb "$d" | cut -f1)))
	done
	echo "$out"
}
fresh_cache() { rm -rf "$CACHE" "$WORK/xdg-cache"; }
OURS_TAG="$MNT/$DS_NAME/initial-tag"

# ------------------------------------------------------------ (1) cold copy
log "(1) cold copy, $RUNS runs of each: ours, the official way, xargs -P8 curl"
ours=() off=() xc=() hwm_max=0 hwm_idle=0 cold_ok=ok cold_st="" du_cold=0
for run in $(seq 1 "$RUNS"); do
	# ours: fresh mount, empty cache
	fresh_cache
	rm -rf "$DEST"
	mount_ours
	idle=$(hwm_kb)
	[ "$idle" -gt "$hwm_idle" ] && hwm_idle=$idle
	ls -l "$OURS_TAG" >/dev/null 2>&1 || true # the listing is not the copy
	stats_reset
	if t=$(tcmd cp -r "$OURS_TAG" "$DEST"); then ours+=("$t"); else ours+=(ERR); log "cp -r from the mount failed (run $run)"; fi
	[ "$run" = 1 ] && cold_st=$(storage_stats)
	h=$(hwm_kb)
	[ "$h" -gt "$hwm_max" ] && hwm_max=$h
	[ "$(same_bytes "$DEST")" = ok ] || cold_ok=MISMATCH
	umount_ours
	d=$(cache_du)
	[ "$d" -gt "$du_cold" ] && du_cold=$d

	# the official way
	rm -rf "$DEST"
	off+=("$(timed helper official "$BASE" "$TOKEN" "$DS_ID" "$DEST")")

	# xargs -P8 curl of signed URLs fetched beforehand (untimed)
	rm -rf "$DEST"
	mkdir -p "$DEST"
	helper urls "$BASE" "$TOKEN" "$DS_ID" "$DEST" >"$WORK/urls"
	xc+=("$(timed xargs -a "$WORK/urls" -d '\n' -n2 -P8 curl -fsS -o)")
	[ "$(same_bytes "$DEST")" = ok ] || log "warning: the curl baseline's copy differs from the reference (run $run)"
done
COLD=$(median_or_err "${ours[@]}")
OFF=$(median_or_err "${off[@]}")
XC=$(median_or_err "${xc[@]}")
read -r C_REQ C_BYTES C_RU C_TOK <<<"$cold_st"
R=$(ratio "$COLD" "$OFF")
row "cold \`cp -r\` of a $SAMPLES-image tag ($(mib "$TOTAL")) vs the official way, median of $RUNS" \
	"$(fmt "$COLD") ($(rate "$TOTAL" "$COLD"))" "readurl+GET ×8 threads $(fmt "$OFF") ($(rate "$TOTAL" "$OFF"))" \
	"$R" "< 1× (faster)" "$(checked "$(verdict "$R" 1)" "$cold_ok")" "bytes $cold_ok; storage ${C_REQ:-?} req, $(mib "${C_BYTES:-0}"), readurl ${C_RU:-?}"
R=$(ratio "$COLD" "$XC")
row "cold \`cp -r\` of the tag vs the transfer limit" \
	"$(fmt "$COLD")" "\`xargs -P8 curl\` of the signed URLs $(fmt "$XC") ($(rate "$TOTAL" "$XC"))" \
	"$R" "≤ 1.25×" "$(checked "$(verdict "$R" 1.25 le)" "$cold_ok")" "token in a blob request: ${C_TOK:-?}"

# ------------------------------------------------------------ (2) one big file
log "(2) one $BIG_MB MiB sample: cat vs curl of its URL"
BIG_URL=$(helper bigurl "$BASE" "$TOKEN" "$BIG_ID")
curl -fsS -o "$WORK/big.ref" "$BIG_URL" # renders it in the emulator (untimed)
bc=() bcurl=() big_ok=ok
for run in $(seq 1 "$RUNS"); do
	fresh_cache
	mount_ours
	ls -l "$MNT/$BIG_NAME/initial-tag" >/dev/null 2>&1 || true
	if t=$(tcmd cat "$MNT/$BIG_NAME/initial-tag/big.png"); then bc+=("$t"); else bc+=(ERR); fi
	cmp -s "$MNT/$BIG_NAME/initial-tag/big.png" "$WORK/big.ref" || big_ok=MISMATCH
	umount_ours
	bcurl+=("$(timed curl -fsS -o /dev/null "$BIG_URL")")
done
BIGC=$(median_or_err "${bc[@]}")
BIGCURL=$(median_or_err "${bcurl[@]}")
R=$(ratio "$BIGC" "$BIGCURL")
row "\`cat\` of one $BIG_MB MiB sample, cold, median of $RUNS" \
	"$(fmt "$BIGC") ($(rate "$BIG_BYTES" "$BIGC"))" "one \`curl\` of its URL $(fmt "$BIGCURL") ($(rate "$BIG_BYTES" "$BIGCURL"))" \
	"$R" "≤ 1.2×" "$(checked "$(verdict "$R" 1.2 le)" "$big_ok")" "bytes $big_ok"

# ------------------------------------------------------------ (3) warm copy
log "(3) warm copy: ours from the content cache vs cp -r from tmpfs"
fresh_cache
mount_ours
cp -r "$OURS_TAG" "$DEST.fill" 2>/dev/null || log "the cache-filling copy failed"
rm -rf "$DEST.fill"
umount_ours
# a fresh mount over the filled cache: the page cache does not help
warm=() tmp=() warm_ok=ok warm_st=""
for run in $(seq 1 "$RUNS"); do
	rm -rf "$DEST"
	mount_ours
	ls -l "$OURS_TAG" >/dev/null 2>&1 || true
	stats_reset
	if t=$(tcmd cp -r "$OURS_TAG" "$DEST"); then warm+=("$t"); else warm+=(ERR); fi
	[ "$run" = 1 ] && warm_st=$(storage_stats)
	[ "$(same_bytes "$DEST")" = ok ] || warm_ok=MISMATCH
	umount_ours
	rm -rf "$DEST"
	tmp+=("$(timed cp -r "$TMPFS_SRC" "$DEST")")
done
du_warm=$(cache_du)
WARM=$(median_or_err "${warm[@]}")
TMP=$(median_or_err "${tmp[@]}")
read -r W_REQ W_BYTES W_RU _ <<<"$warm_st"
R=$(ratio "$WARM" "$TMP")
row "warm \`cp -r\` of the tag (content cache, fresh mount), median of $RUNS" \
	"$(fmt "$WARM")" "\`cp -r\` from tmpfs $(fmt "$TMP")" "$R" "≤ 1.5×" "$(checked "$(verdict "$R" 1.5 le)" "$warm_ok")" \
	"bytes $warm_ok; storage ${W_REQ:-?} req, $(mib "${W_BYTES:-0}"), readurl ${W_RU:-?}"

# ------------------------------------------------------------ (4) memory and disk
BUDGET_KB=$(( hwm_idle + PREFETCH_MB * 1024 + SAMPLES * 512 / 1024 ))
row "daemon peak RSS (VmHWM) during the cold copy, worst of $RUNS" \
	"$(awk -v k="$hwm_max" 'BEGIN { printf "%.1f MiB", k / 1024 }')" \
	"idle $(awk -v k="$hwm_idle" 'BEGIN { printf "%.1f MiB", k / 1024 }') + $PREFETCH_MB MiB prefetch + 512 B×$SAMPLES listing" \
	"$(ratio "$hwm_max" "$BUDGET_KB")" "≤ 1.00×" "$(verdict "$(ratio "$hwm_max" "$BUDGET_KB")" 1 le)" "—"
CACHE_BOUND=$((CACHE_MB * 1048576))
du_max=$du_cold
[ "$du_warm" -gt "$du_max" ] && du_max=$du_warm
row "content cache dir size (du -sb), largest seen" "$(mib "$du_max")" \
	"content_cache_mb=$CACHE_MB" "$(ratio "$du_max" "$CACHE_BOUND")" "≤ 1.00×" \
	"$(verdict "$(ratio "$du_max" "$CACHE_BOUND")" 1 le)" "after the cold copy $(mib "$du_cold"), after the warm ones $(mib "$du_warm")"

# ------------------------------------------------------------ report
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( $(date +%s) - START ))
note "data: $SAMPLES images img_NNNNN.jpg/png (two JPEGs to one PNG), sizes log-uniform $MIN_BYTES..$MAX_BYTES bytes from a fixed seed, $(mib "$TOTAL") in all, created with metaData.sizeInBytes (listed exactly); one big.png of $BIG_MB MiB in a dataset of its own. Storage is the emulator's /blobs/ on the API port; copies go to a local directory under ${TMPDIR:-/tmp}."
note "cold = a fresh mount with an empty content cache (\`-o $CONTENT_OPTS\`), the tag listed first (\`ls -l\`, untimed), then \`cp -r\` timed; the baselines run right after ours in each run. The official way: python urllib, one readurl and one GET per sample, 8 threads, with the sample listing (one request) inside its time. The transfer limit: the same URLs fetched beforehand (untimed), then \`xargs -d '\\n' -n2 -P8 curl -fsS -o FILE URL\`."
note "the emulator renders each body once and keeps the most recent 160 MiB of them; an untimed reference download ran first, so with more than that every pass re-renders (equally for all three)."
note "warm = the cache filled by one untimed copy, then each run on a fresh mount (so the kernel's page cache of the previous mount does not count); baseline: \`cp -r\` from $TMPFS_KIND."
note "bytes ok/MISMATCH: \`diff -r\` of the copy against the reference download. Storage counters (/_emulator/stats/storage) are of the first run."
note "memory budget: the daemon's VmHWM right after the mount, plus the $PREFETCH_MB MiB prefetch bound, plus 512 B per sample for the listing."
note "lightlyfs git $GITREV; load average at start $LOAD_START, at end $LOAD_END; $(nproc) CPUs; the whole script took $ELAPSED s."

{
	echo "Command: \`$COMMAND\` (from the repository root; $(date -u '+%Y-%m-%d %H:%M UTC'))"
	echo
	echo "| workload | ours | baseline | ratio (ours / baseline) | target | result | notes |"
	echo "|---|---|---|---|---|---|---|"
	cat "$ROWS"
	echo
	echo "Notes:"
	echo
	cat "$NOTES"
} >"$WORK/table.md"
cat "$WORK/table.md"
if [ -n "$OUT" ]; then
	cp "$WORK/table.md" "$OUT"
	echo
	echo "(written to $OUT)"
fi
exit 0
