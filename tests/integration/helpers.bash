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

# mount_fs [lightlyfs -o options...]: sets MNT, FS_PID, FS_LOG
mount_fs() {
	MNT="$(mktemp -d "${BATS_TMPDIR:-/tmp}/lfs-mnt.XXXXXX")"
	FS_LOG="$MNT.log"
	LIGHTLY_TOKEN="$TOKEN" LIGHTLY_SERVER_LOCATION="$EMU_URL" \
		"$LIGHTLYFS_BIN" -f "$@" "$MNT" 2>"$FS_LOG" &
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
		mountpoint -q "$MNT" && fusermount3 -uz "$MNT" 2>/dev/null
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

# inject a fault: fault JSON
fault() { curl -sS -X POST -H 'Content-Type: application/json' --data "$1" "$EMU_URL/_emulator/faults" >/dev/null; }
faults_clear() { curl -sS -X DELETE "$EMU_URL/_emulator/faults" >/dev/null; }
