#!/usr/bin/env bats
# A bounded load test: 16 processes browse the mount (ls, stat, find, cat of
# .lightly files) and edit tags (ln, rm) for a fixed time while faults are
# injected now and then.  The load runs once, in setup_file; each test then
# checks one property: the daemon never crashed and still answers, its
# memory stayed bounded, no edit was lost (the server holds exactly what the
# processes' successful calls made), the mount shows the same, and it
# unmounts cleanly.

load helpers

WORKERS=16
SECONDS_OF_LOAD=${LOAD_SECONDS:-20}

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	# helpers.bash makes a token per process; every test here uses this one
	export FILE_TOKEN=$TOKEN
	emu_start
	# per worker w: 10 samples wNN_K.jpg of its own; 40 shared nested ones;
	# tags: "shared" (every worker adds its own samples, never removes) and
	# pNN (worker NN adds and removes its own samples)
	python3 - "$WORKERS" >"$BATS_FILE_TMPDIR/spec" <<'PY'
import json, sys
n = int(sys.argv[1])
samples = ["w%02d_%d.jpg" % (w, k) for w in range(1, n + 1) for k in range(10)]
samples += ["deep/a%d/b/c/f%02d.jpg" % (j % 4, j) for j in range(40)]
tags = [["shared", "0x0"]] + [["p%02d" % w, "0x0"] for w in range(1, n + 1)]
print(json.dumps([{"name": "load", "samples": samples, "tags": tags},
                  {"name": "other", "samples": ["o%d.jpg" % i for i in range(20)]}]))
PY
	seed_account "$(cat "$BATS_FILE_TMPDIR/spec")" >"$BATS_FILE_TMPDIR/ids"
	DS=$(awk '$1 == "load" { print $2 }' "$BATS_FILE_TMPDIR/ids")
	mount_fs -o timeout=5,cache_ttl=1,flush_delay_ms=200
	export EMU_PID EMU_PORT EMU_URL EMU_DIR MNT FS_PID FS_LOG DS
	find "$MNT" >/dev/null
	write_worker
	start_controller
	local pids=() w t peak=0 rss
	t=$(now_s)
	for w in $(seq 1 $WORKERS); do
		python3 "$BATS_FILE_TMPDIR/worker.py" "$MNT" "$w" "$SECONDS_OF_LOAD" \
			"$BATS_FILE_TMPDIR/result.$w" 2>"$BATS_FILE_TMPDIR/worker.$w.err" &
		pids+=($!)
	done
	# the daemon's memory while it works
	while [ "$(since "$t" | cut -d. -f1)" -lt "$SECONDS_OF_LOAD" ]; do
		rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$FS_PID/status" 2>/dev/null || echo 0)
		[ "$rss" -gt "$peak" ] && peak=$rss
		sleep 1
	done
	echo "$peak" >"$BATS_FILE_TMPDIR/peak-rss"
	# every worker ends on its own once its time is up (a hung call would
	# not); the tests below say what went wrong
	for w in "${pids[@]}"; do
		if ! wait_exit "$w" 60 >/dev/null 2>&1; then
			echo "worker pid $w failed or hung" >>"$BATS_FILE_TMPDIR/worker-failures"
			kill -9 "$w" 2>/dev/null || true
		fi
	done
	wait_exit "$CONTROLLER" 10 || true
	CONTROLLER=""
	faults_clear
	# everything pending goes out
	for _ in 1 2 3 4 5; do
		fs_try fsync "$MNT/load" >"$BATS_FILE_TMPDIR/fsync"
		[ "$(cat "$BATS_FILE_TMPDIR/fsync")" = OK ] && break
		sleep 1
	done
}

teardown_file() {
	if [ -n "${CONTROLLER:-}" ]; then
		kill "$CONTROLLER" 2>/dev/null || true
		wait "$CONTROLLER" 2>/dev/null || true
	fi
	[ -n "${EMU_PID:-}" ] && faults_clear
	# unmounted by the last test: the daemon has ended, or ends now
	if [ -n "${FS_PID:-}" ] && ! mountpoint -q "$MNT"; then
		wait_exit "$FS_PID" 10 || kill -9 "$FS_PID" 2>/dev/null || true
		FS_PID=""
	fi
	unmount_fs
	emu_stop
}

setup() {
	TOKEN=$FILE_TOKEN
}

# the worker: random browsing and edits until its time is up; writes what
# its successful edits made, and counts, as JSON
write_worker() {
	cat >"$BATS_FILE_TMPDIR/worker.py" <<'PY'
import errno, json, os, random, sys, time
mnt, w, secs, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
rnd = random.Random(w * 7919)
ds = os.path.join(mnt, "load")
init = os.path.join(ds, "initial-tag")
shared = os.path.join(ds, "shared")
own = os.path.join(ds, "p%02d" % w)
mine = ["w%02d_%d.jpg" % (w, k) for k in range(10)]
names = ["w%02d_%d.jpg" % (v, k) for v in range(1, 17) for k in range(10)]
dirs = [mnt, ds, init, shared, own, os.path.join(init, "deep"),
        os.path.join(init, "deep/a1/b/c"), os.path.join(mnt, "other/initial-tag"),
        os.path.join(ds, ".lightly/tags"), os.path.join(mnt, ".lightly")]
meta = [os.path.join(mnt, ".lightly/stats"), os.path.join(ds, ".lightly/dataset.json"),
        os.path.join(ds, ".lightly/tags/shared.json"),
        os.path.join(ds, ".lightly/tags/p%02d.json" % w)]
in_own, in_shared = set(), set()
ops, errs = {}, {}
def count(d, k):
    d[k] = d.get(k, 0) + 1
end = time.monotonic() + secs
while time.monotonic() < end:
    r = rnd.random()
    op = "?"
    try:
        if r < 0.15:
            op = "ls"; os.listdir(rnd.choice(dirs))
        elif r < 0.35:
            op = "stat"; os.stat(os.path.join(init, rnd.choice(names)))
        elif r < 0.40:
            op = "find"
            for _ in os.walk(ds):
                pass
        elif r < 0.50:
            op = "cat"
            with open(rnd.choice(meta), "rb") as f:
                f.read()
        elif r < 0.60:
            op = "ln-shared"
            left = [f for f in mine if f not in in_shared]
            if left:
                f = rnd.choice(left)
                os.link(os.path.join(init, f), os.path.join(shared, f))
                in_shared.add(f)
        else:
            f = rnd.choice(mine)
            if f in in_own:
                op = "rm-own"; os.unlink(os.path.join(own, f)); in_own.discard(f)
            else:
                op = "ln-own"; os.link(os.path.join(init, f), os.path.join(own, f)); in_own.add(f)
        count(ops, op)
    except OSError as e:
        count(errs, "%s %s" % (op, errno.errorcode.get(e.errno, e.errno)))
json.dump({"worker": w, "own": sorted(in_own), "shared": sorted(in_shared),
           "ops": ops, "errors": errs}, open(out, "w"))
PY
}

# the fault injector: every 0..3 s the next fault of the list (each one is
# met in the time given), every sixth time all cleared
start_controller() {
	(
		local faults=(
			'{"match": "*", "status": 503, "count": 3}'
			'{"match": "PUT /v1/datasets/{datasetId}/tags/{tagId}", "status": 503, "count": 8}'
			'{"match": "GET /v1/datasets/{datasetId}/tags", "delay_ms": 1500, "count": 2}'
			'{"match": "*", "drop": true, "count": 2}'
			'{"match": "GET /v1/datasets", "status": 500, "count": 10}'
			'{"match": "PUT /v1/datasets/{datasetId}/tags/{tagId}", "truncate": true, "count": 2}'
			'{"match": "*", "status": 429, "retry_after_s": 1, "count": 2}'
			'{"match": "GET /v1/datasets/{datasetId}/mappings", "status": 502, "count": 2}'
		)
		local end=$(($(date +%s) + SECONDS_OF_LOAD)) n=0
		while [ "$(date +%s)" -lt "$end" ]; do
			n=$((n + 1))
			if [ $((n % 6)) -eq 0 ]; then
				faults_clear
			else
				fault "${faults[$((n % ${#faults[@]}))]}"
			fi
			sleep "$((RANDOM % 2)).$((RANDOM % 10))"
		done
		faults_clear
	) &
	CONTROLLER=$!
}

# check_server: the server holds exactly what the workers' successful calls
# made
check_server() {
	run python3 - "$BATS_FILE_TMPDIR" "$WORKERS" "$EMU_URL" "$TOKEN" "$DS" <<'PY'
import json, os, sys, urllib.request
tmp, n, url, tok, ds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def get(p):
    return json.load(urllib.request.urlopen("%s%s%stoken=%s" % (url, p, "&" if "?" in p else "?", tok)))
tags = {t["name"]: t["id"] for t in get("/v1/datasets/%s/tags" % ds)}
def files(name):
    return sorted(get("/v1/datasets/%s/tags/%s/filenames" % (ds, tags[name])))
shared = set()
for w in range(1, n + 1):
    r = json.load(open(os.path.join(tmp, "result.%d" % w)))
    shared |= set(r["shared"])
    assert files("p%02d" % w) == r["own"], ("server", w, files("p%02d" % w), r["own"])
assert files("shared") == sorted(shared), ("server shared", files("shared"), sorted(shared))
PY
	assert_success
}

@test "under load and faults the daemon never crashed, and every process's calls returned" {
	[ ! -e "$BATS_FILE_TMPDIR/worker-failures" ] || fail "$(cat "$BATS_FILE_TMPDIR/worker-failures" "$BATS_FILE_TMPDIR"/worker.*.err)"
	kill -0 "$FS_PID" || fail "the daemon is gone: $(tail -5 "$FS_LOG")"
	run ls "$MNT/load"
	assert_success
	run grep -E 'AddressSanitizer|runtime error|LeakSanitizer' "$FS_LOG"
	assert_failure
	run python3 - "$BATS_FILE_TMPDIR" "$WORKERS" <<'PY'
import json, os, sys
tmp, n = sys.argv[1], int(sys.argv[2])
total, errs, shared = 0, {}, 0
for w in range(1, n + 1):
    r = json.load(open(os.path.join(tmp, "result.%d" % w)))
    total += sum(r["ops"].values())
    shared += len(r["shared"])
    for k, v in r["errors"].items():
        errs[k] = errs.get(k, 0) + v
print("%d calls, errors %s, %d samples added to shared" % (total, json.dumps(errs, sort_keys=True), shared))
assert total > 200, total
PY
	echo "# $output; daemon: $(fs_stat api.retries) retries, $(fs_stat cache.staleServed) stale answers" >&3
	assert_success
	# the faults were met
	[ "$(fs_stat api.retries)" -ge 1 ]
}

@test "under load and faults the daemon's memory stayed bounded" {
	# a sanitizer build keeps more, by design (shadow memory, quarantine)
	local hwm limit=$((200 * 1024))
	grep -qa __asan_init "$LIGHTLYFS_BIN" && limit=$((400 * 1024))
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$FS_PID/status")
	echo "# peak RSS sampled $(($(cat "$BATS_FILE_TMPDIR/peak-rss") / 1024)) MB, VmHWM $((hwm / 1024)) MB" >&3
	[ "$hwm" -lt "$limit" ] || fail "peak RSS $hwm kB over $limit kB"
}

@test "no edit was lost: after fsync the server holds exactly what the processes' calls made" {
	assert_equal "$(cat "$BATS_FILE_TMPDIR/fsync")" OK
	check_server
}

@test "after the load the mount lists exactly what the processes' calls made" {
	run python3 - "$BATS_FILE_TMPDIR" "$WORKERS" "$MNT/load" <<'PY'
import json, os, sys
tmp, n, ds = sys.argv[1], int(sys.argv[2]), sys.argv[3]
bad, shared = [], set()
for w in range(1, n + 1):
    r = json.load(open(os.path.join(tmp, "result.%d" % w)))
    shared |= set(r["shared"])
    got = sorted(os.listdir(os.path.join(ds, "p%02d" % w)))
    if got != r["own"]:
        bad.append("p%02d lists %s, expected %s" % (w, got, r["own"]))
    for f in r["own"]:  # each one can be looked up
        os.stat(os.path.join(ds, "p%02d" % w, f))
got = sorted(os.listdir(os.path.join(ds, "shared")))
if got != sorted(shared):
    bad.append("shared: differs in %s" % sorted(set(got) ^ shared))
assert not bad, "\n".join(bad)
PY
	assert_success
}

@test "after the load the daemon unmounts cleanly and the server still holds every edit" {
	fusermount3 -u "$MNT"
	local state=""
	for _ in $(seq 1 300); do
		state=$(awk '/^State:/ { print $2 }' "/proc/$FS_PID/status" 2>/dev/null || true)
		[ -z "$state" ] || [ "$state" = Z ] && break
		sleep 0.1
	done
	[ -z "$state" ] || [ "$state" = Z ] || fail "the daemon did not exit after fusermount3 -u"
	run grep -E 'could not be sent|ERROR' "$FS_LOG"
	assert_failure
	check_server
}
