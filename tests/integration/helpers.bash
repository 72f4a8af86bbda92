# Shared setup for the integration suites: each test file starts its own
# emulator on a free port with a temporary state, mounts into a temporary
# directory, and its teardown unmounts and stops exactly what it started.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
LIGHTLYFS_BIN="${LIGHTLYFS_BIN:-$ROOT/build/lightlyfs}"
EMULATOR="$ROOT/scripts/lightly_emulator.py"
TOKEN="test-token-$$-secret"

# emu_start [emulator args...]: sets EMU_PID, EMU_PORT, EMU_URL, EMU_DIR
emu_start() {
	EMU_DIR="$(mktemp -d "${BATS_TMPDIR:-/tmp}/lfs-emu.XXXXXX")"
	python3 "$EMULATOR" --port 0 --token "$TOKEN" \
		--state "$EMU_DIR/state.sqlite" "$@" \
		>"$EMU_DIR/out" 2>"$EMU_DIR/err" &
	EMU_PID=$!
	for _ in $(seq 1 300); do
		EMU_PORT=$(sed -n 's/^port=\([0-9]*\)$/\1/p' "$EMU_DIR/out" 2>/dev/null || true)
		[ -n "$EMU_PORT" ] && break
		kill -0 "$EMU_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$EMU_PORT" ] || { cat "$EMU_DIR/err" >&2; return 1; }
	EMU_URL="http://127.0.0.1:$EMU_PORT"
}

emu_stop() {
	if [ -n "${EMU_PID:-}" ]; then
		kill "$EMU_PID" 2>/dev/null || true
		wait "$EMU_PID" 2>/dev/null || true
		EMU_PID=""
	fi
	[ -n "${EMU_DIR:-}" ] && rm -rf "$EMU_DIR"
	EMU_DIR=""
}

# api METHOD PATH [JSON]: the emulator's own API, the oracle
api() {
	local m=$1 p=$2 sep='?'
	case "$p" in *\?*) sep='&' ;; esac
	if [ $# -ge 3 ]; then
		curl -sS -X "$m" -H 'Content-Type: application/json' \
			--data "$3" "$EMU_URL$p${sep}token=$TOKEN"
	else
		curl -sS -X "$m" "$EMU_URL$p${sep}token=$TOKEN"
	fi
}

# api_status METHOD PATH [JSON]: only the HTTP status
api_status() {
	local m=$1 p=$2 sep='?'
	case "$p" in *\?*) sep='&' ;; esac
	if [ $# -ge 3 ]; then
		curl -sS -o /dev/null -w '%{http_code}' -X "$m" \
			-H 'Content-Type: application/json' --data "$3" \
			"$EMU_URL$p${sep}token=$TOKEN"
	else
		curl -sS -o /dev/null -w '%{http_code}' -X "$m" \
			"$EMU_URL$p${sep}token=$TOKEN"
	fi
}

# jq-less JSON access: py EXPR reads JSON on stdin as `d`
py() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

dataset_id() { # name -> id (first match)
	api GET /v1/datasets | py "print(next(x['id'] for x in d if x['name']=='$1'))"
}
tag_id() { # dataset-id tag-name -> id
	api GET "/v1/datasets/$1/tags" | py "print(next(x['id'] for x in d if x['name']=='$2'))"
}
stats_reset() { curl -sS -X POST "$EMU_URL/_emulator/stats/reset" >/dev/null; }
stat_count() { # "GET /v1/datasets/{datasetId}/tags" -> count
	curl -sS "$EMU_URL/_emulator/stats" | py "print(d['routes'].get('$1', 0))"
}
stat_total() { curl -sS "$EMU_URL/_emulator/stats" | py "print(d['total'])"; }

# fs_env [NAME=VALUE | -u NAME]... [more words...]: the daemon's environment
# as env(1) arguments in FS_ENV: this shell's, plus LIGHTLY_TOKEN=$TOKEN and
# LIGHTLY_SERVER_LOCATION=$EMU_URL, then the leading NAME=VALUE words (which
# may override those two); -u NAME removes NAME, the two defaults included.
# FS_ENV_WORDS counts the leading words it took.
fs_env() {
	local unset=() set=() d
	FS_ENV_WORDS=0
	while [ $# -gt 0 ]; do
		case $1 in
		-u) unset+=(-u "$2"); shift 2; FS_ENV_WORDS=$((FS_ENV_WORDS + 2)) ;;
		[A-Za-z_]*=*) set+=("$1"); shift; FS_ENV_WORDS=$((FS_ENV_WORDS + 1)) ;;
		*) break ;;
		esac
	done
	FS_ENV=("${unset[@]}")
	# each test keeps its journal of edits and its content cache to itself
	for d in "LIGHTLY_TOKEN=$TOKEN" "LIGHTLY_SERVER_LOCATION=$EMU_URL" \
		"XDG_STATE_HOME=${BATS_TEST_TMPDIR:-$EMU_DIR}/state" \
		"XDG_CACHE_HOME=${BATS_TEST_TMPDIR:-$EMU_DIR}/cache"; do
		case " ${unset[*]} " in
		*" ${d%%=*} "*) ;;
		*) FS_ENV+=("$d") ;;
		esac
	done
	FS_ENV+=("${set[@]}")
}

# mount_fs [NAME=VALUE | -u NAME]... [lightlyfs options...]: mounts with the
# daemon's environment as fs_env makes it, e.g.
#   mount_fs -u LIGHTLY_TOKEN -o "token_file=$tf"
# sets MNT, FS_PID, FS_LOG
mount_fs() {
	fs_env "$@"
	shift "$FS_ENV_WORDS"
	MNT="$(mktemp -d "${BATS_TMPDIR:-/tmp}/lfs-mnt.XXXXXX")"
	FS_LOG="$MNT.log"
	env "${FS_ENV[@]}" "$LIGHTLYFS_BIN" -f "$@" "$MNT" 2>"$FS_LOG" &
	FS_PID=$!
	for _ in $(seq 1 100); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$FS_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$FS_LOG" >&2
	return 1
}

unmount_fs() {
	if [ -n "${MNT:-}" ]; then
		mountpoint -q "$MNT" && fusermount3 -u "$MNT" 2>/dev/null
		if [ -n "${FS_PID:-}" ]; then
			for _ in $(seq 1 100); do
				kill -0 "$FS_PID" 2>/dev/null || break
				sleep 0.1
			done
			kill -9 "$FS_PID" 2>/dev/null || true
			wait "$FS_PID" 2>/dev/null || true
		fi
		# a daemon that died mounted leaves a mount mountpoint(1) cannot
		# stat ("Transport endpoint is not connected"): /proc/mounts has it
		if mountpoint -q "$MNT" 2>/dev/null || awk -v m="$MNT" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; then
			fusermount3 -uz "$MNT" 2>/dev/null
		fi
		rmdir "$MNT" 2>/dev/null || true
		[ -n "${KEEP_LOGS:-}" ] || rm -f "$FS_LOG"
	fi
	MNT=""
	FS_PID=""
}

# Files of a tag as the server's own filenames endpoint lists them, sorted.
server_filenames() { # ds-id tag-id
	api GET "/v1/datasets/$1/tags/$2/filenames" | py "sys.stdout.write(''.join(x + '\n' for x in d))" | LC_ALL=C sort
}
# Files of a tag directory as the mount shows them, relative, sorted.
mount_files() { # dir
	(cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
}

# make_dataset NAME FILE...: a dataset holding those sample names and an
# initial tag "initial-tag"; prints its id.
make_dataset() {
	local name=$1 id names
	shift
	id=$(api POST /v1/datasets "{\"name\": \"$name\"}" | py "print(d['id'])")
	names="$EMU_DIR/names.json"
	python3 -c 'import json,sys; print(json.dumps({"fileNames": sys.argv[1:]}))' "$@" >"$names"
	curl -sS -X POST -H 'Content-Type: application/json' --data "@$names" \
		"$EMU_URL/_emulator/datasets/$id/samples" >/dev/null
	api POST "/v1/datasets/$id/tags/initial" '{"imgType": "full", "name": "initial-tag"}' >/dev/null
	echo "$id"
}

# make_tag DS-ID NAME HEX [PREV-NAME]: a tag with that bitmask; prints its id.
make_tag() {
	local ds=$1 name=$2 hex=$3 prev=${4:-initial-tag} prev_id tot
	prev_id=$(tag_id "$ds" "$prev")
	tot=$(api GET "/v1/datasets/$ds" | py "print(d['nSamples'])")
	api POST "/v1/datasets/$ds/tags" \
		"{\"name\": \"$name\", \"prevTagId\": \"$prev_id\", \"bitMaskData\": \"$hex\", \"totSize\": $tot}" |
		py "print(d['id'])"
}

# seed_sized NAME FILE[:SIZE]...: a dataset whose samples were created
# through the API with metaData.sizeInBytes SIZE (none without :SIZE), and an
# initial tag "initial-tag" holding them all; prints its id.
seed_sized() {
	python3 - "$EMU_URL" "$TOKEN" "$@" <<'PY'
import json, sys, urllib.request
url, tok, name, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def req(method, path, body=None):
    r = urllib.request.Request(url + path + ("&" if "?" in path else "?") + "token=" + tok,
        method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(r) as f:
        return json.loads(f.read() or b"null")
ds = req("POST", "/v1/datasets", {"name": name})["id"]
for f in files:
    fname, _, size = f.rpartition(":") if ":" in f else (f, "", "")
    body = {"fileName": fname}
    if size:
        body["metaData"] = {"sizeInBytes": int(size)}
    req("POST", "/v1/datasets/%s/samples" % ds, body)
req("POST", "/v1/datasets/%s/tags/initial" % ds, {"imgType": "full", "name": "initial-tag"})
print(ds)
PY
}

# inject a fault: fault JSON
fault() { curl -sS -X POST -H 'Content-Type: application/json' --data "$1" "$EMU_URL/_emulator/faults" >/dev/null; }
faults_clear() { curl -sS -X DELETE "$EMU_URL/_emulator/faults" >/dev/null; }

# ---- helpers of the reliability suites (faults, load, security) ----

# seed_account JSON: datasets made in one process, e.g.
#   '[{"name": "alpha", "samples": ["a.jpg", "d/b.jpg"], "tags": [["some", "0x1"]]}]'
# Each dataset with samples gets "initial-tag" holding every sample, then the
# given tags as its children.  Sample names go in raw (unchecked).  Prints
# "NAME ID" per dataset.
seed_account() {
	python3 - "$EMU_URL" "$TOKEN" "$1" <<'PY'
import json, sys, urllib.request
url, tok, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
def req(method, path, body=None, auth=True):
    if auth:
        path += ("&" if "?" in path else "?") + "token=" + tok
    r = urllib.request.Request(url + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(r) as f:
        data = f.read()
    return json.loads(data) if data else None
for ds in spec:
    i = req("POST", "/v1/datasets", {"name": ds["name"]})["id"]
    if ds.get("samples"):
        req("POST", "/_emulator/datasets/%s/samples" % i, {"fileNames": ds["samples"]}, False)
        init = req("POST", "/v1/datasets/%s/tags/initial" % i,
                   {"imgType": "full", "name": "initial-tag"})["id"]
        for name, mask in ds.get("tags", []):
            req("POST", "/v1/datasets/%s/tags" % i, {"name": name, "prevTagId": init,
                "bitMaskData": mask, "totSize": len(ds["samples"])})
    print(ds["name"], i)
PY
}

now_s() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; } # START -> seconds
# assert_between X LOW HIGH: LOW <= X <= HIGH, as decimals (LOW may be "")
assert_between() {
	awk -v x="$1" -v lo="${2:-}" -v hi="$3" \
		'BEGIN { exit !((lo == "" || x + 0 >= lo + 0) && x + 0 <= hi + 0) }' ||
		fail "took $1 s, expected ${2:-0}..$3 s"
}

# fs_try OP PATH [PATH2]: one system call; prints OK or the errno's name.
# OP: ls stat cat mkdir rmdir rm ln (PATH -> PATH2) fsync
fs_try() {
	python3 - "$@" <<'PY'
import errno, os, sys
op, p = sys.argv[1], sys.argv[2]
try:
    if op == "ls": os.listdir(p)
    elif op == "stat": os.stat(p)
    elif op == "cat":
        with open(p, "rb") as f: f.read()
    elif op == "mkdir": os.mkdir(p)
    elif op == "rmdir": os.rmdir(p)
    elif op == "rm": os.unlink(p)
    elif op == "ln": os.link(p, sys.argv[3])
    elif op == "fsync":
        fd = os.open(p, os.O_RDONLY)
        try: os.fsync(fd)
        finally: os.close(fd)
    else: raise SystemExit("fs_try: unknown op " + op)
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PY
}
# fs_list DIR: its entries, sorted, on one line; or !ERRNO
fs_list() {
	python3 -c '
import errno, os, sys
try:
    print(" ".join(sorted(os.listdir(sys.argv[1]))))
except OSError as e:
    print("!" + errno.errorcode.get(e.errno, str(e.errno)))' "$1"
}
# wait_list DIR WANT [SECONDS]: until fs_list DIR gives WANT (default 10 s)
wait_list() {
	local end got
	end=$(awk -v t="$(date +%s.%N)" -v s="${3:-10}" 'BEGIN { printf "%.2f", t + s }')
	while :; do
		got=$(fs_list "$1")
		[ "$got" = "$2" ] && return 0
		awk -v e="$end" -v t="$(date +%s.%N)" 'BEGIN { exit !(t > e) }' && break
		sleep 0.2
	done
	fail "$1 lists '$got', expected '$2'"
}
# fs_stat KEY.PATH: a counter of MNT/.lightly/stats, e.g. cache.staleServed
fs_stat() {
	python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$MNT/.lightly/stats" "$1"
}
# assert_alive: the daemon runs and its mount answers
assert_alive() {
	kill -0 "$FS_PID" 2>/dev/null || fail "the daemon (pid $FS_PID) is gone: $(tail -5 "$FS_LOG")"
	ls "$MNT" >/dev/null || fail "the mount no longer answers"
}

# run_mount [NAME=VALUE | -u NAME]... [lightlyfs options...]: runs the
# daemon (environment as for mount_fs) in the foreground where its mount is
# expected to fail; $status and $output as from `run`.  MNT is a fresh
# directory (teardown's unmount_fs removes it).
run_mount() {
	fs_env "$@"
	shift "$FS_ENV_WORDS"
	MNT="$(mktemp -d "${BATS_TMPDIR:-/tmp}/lfs-mnt.XXXXXX")"
	FS_LOG="$MNT.log"
	FS_PID=""
	run timeout 20 env "${FS_ENV[@]}" "$LIGHTLYFS_BIN" -f "$@" "$MNT"
}

# emu_kill: the emulator dies (SIGKILL); its state file stays for emu_restart
emu_kill() {
	kill -9 "$EMU_PID" 2>/dev/null || true
	wait "$EMU_PID" 2>/dev/null || true
	EMU_PID=""
}
# emu_restart: a new emulator on the same port with the same state
emu_restart() {
	local port=""
	for _ in $(seq 1 50); do
		: >"$EMU_DIR/out"
		python3 "$EMULATOR" --port "$EMU_PORT" --token "$TOKEN" \
			--state "$EMU_DIR/state.sqlite" >"$EMU_DIR/out" 2>"$EMU_DIR/err" &
		EMU_PID=$!
		for _ in $(seq 1 100); do
			port=$(sed -n 's/^port=\([0-9]*\)$/\1/p' "$EMU_DIR/out" 2>/dev/null || true)
			[ -n "$port" ] && return 0
			kill -0 "$EMU_PID" 2>/dev/null || break
			sleep 0.1
		done
		wait "$EMU_PID" 2>/dev/null || true
		EMU_PID=""
		sleep 0.2 # the port is not free yet
	done
	cat "$EMU_DIR/err" >&2
	return 1
}
# wait_exit PID [SECONDS]: waits (bounded, default 20 s) for a child of this
# shell to end; returns its exit status, or fails when it does not end
wait_exit() {
	local state
	for _ in $(seq 1 $((${2:-20} * 10))); do
		state=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true)
		if [ -z "$state" ] || [ "$state" = Z ]; then
			wait "$1"
			return
		fi
		sleep 0.1
	done
	fail "pid $1 did not end within ${2:-20} s"
}
# mount_fs_sigint [options...]: mount_fs, with SIGINT at its default action
# in the daemon (a background job of a script inherits it ignored)
mount_fs_sigint() {
	local real=$LIGHTLYFS_BIN
	LIGHTLYFS_BIN="$BATS_TEST_TMPDIR/lightlyfs-sigint"
	cat >"$LIGHTLYFS_BIN" <<PY
#!/usr/bin/env python3
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv("$real", ["$real"] + sys.argv[1:])
PY
	chmod +x "$LIGHTLYFS_BIN"
	mount_fs "$@"
	local ret=$?
	LIGHTLYFS_BIN=$real
	return $ret
}
