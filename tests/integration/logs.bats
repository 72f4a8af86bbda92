#!/usr/bin/env bats
# Where the log goes and what it says: a daemon (no -f) writes to
# -o log_file or syslog, SIGUSR1 turns debug lines on and off, a failed
# request is one line with method, route, status, Lightly error code,
# request id and milliseconds, and no log ever holds the token.

# shellcheck disable=SC2030,SC2031
load helpers

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
}

setup() {
	emu_start
	DS=$(make_dataset street-scenes a.jpg b.jpg c.jpg)
	make_tag "$DS" night 0x3 >/dev/null
	DAEMON_PID=""
}

teardown() {
	[ -n "${LISTEN_PID:-}" ] && kill "$LISTEN_PID" 2>/dev/null
	[ -n "${EMU_PID:-}" ] && faults_clear
	if [ -n "$DAEMON_PID" ]; then
		mountpoint -q "$MNT" && fusermount3 -u "$MNT"
		for _ in $(seq 1 100); do
			kill -0 "$DAEMON_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$DAEMON_PID" 2>/dev/null || true
		DAEMON_PID=""
	fi
	unmount_fs
	emu_stop
}

# daemon_mount [lightlyfs options...]: lightlyfs without -f; it returns once
# mounted.  Sets MNT; the daemon's pid is DAEMON_PID once daemon_pid ran.
daemon_mount() {
	fs_env
	MNT="$(mktemp -d "${BATS_TMPDIR:-/tmp}/lfs-mnt.XXXXXX")"
	FS_LOG="$MNT.log"
	env "${FS_ENV[@]}" "$LIGHTLYFS_BIN" "$@" "$MNT" 2>"$FS_LOG"
	mountpoint -q "$MNT"
}

# daemon_pid FILE: the pid of the "mounted" line in FILE
daemon_pid() {
	DAEMON_PID=$(sed -n 's/.*lightlyfs\[\([0-9]*\)\]:* *[A-Z]*:* *lightlyfs [^ ]* mounted .*/\1/p' "$1" | tail -1)
	[ -n "$DAEMON_PID" ]
}

@test "a daemon (no -f) with -o log_file writes its lines there" {
	local log="$BATS_TEST_TMPDIR/lightlyfs.log"
	daemon_mount -o "log_file=$log,timeout=2"
	daemon_pid "$log"
	# the dataset's tags were never read: nothing stale to show
	fault '{"match": "GET /v1/datasets/{datasetId}/tags", "status": 400}'
	run ls "$MNT/street-scenes"
	assert_failure
	for _ in $(seq 1 50); do grep -q "tags failed" "$log" && break; sleep 0.1; done
	run cat "$log"
	assert_output --regexp "INFO: lightlyfs [0-9][^ ]* mounted $EMU_URL at $MNT \\(cache_ttl [0-9.]+ s, flush_delay [0-9]+ ms, timeout 2 s, threads 16, state [^,]+, cache [^)]+\\)"
	assert_output --regexp "lightlyfs\[$DAEMON_PID\] WARN: GET /v1/datasets/$DS/tags failed: status=400 code=INJECTED_FAULT request_id=[0-9a-f]+ ms=[0-9]+ attempts=1: fault injected"
	# the daemon's stderr is /dev/null: nothing reached the terminal
	[ ! -s "$FS_LOG" ]
	run grep -rF "$TOKEN" "$log" "$FS_LOG"
	assert_failure
}

# a Unix datagram socket that writes what it receives to FILE: syslog's
listen_syslog() { # SOCKET FILE
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as f:
    print("ready", flush=True)
    while True:
        f.write(s.recv(65536) + b"\n")' "$1" "$2" &
	LISTEN_PID=$!
	for _ in $(seq 1 50); do [ -S "$1" ] && return 0; sleep 0.1; done
	return 1
}

@test "a daemon with neither -f nor log_file logs to syslog (daemon facility, ident lightlyfs)" {
	local got="$BATS_TEST_TMPDIR/syslog.txt" sock
	if [ -S /dev/log ]; then
		skip "a real syslog owns /dev/log here; this test feeds its own"
	fi
	unshare -m --propagation private true 2>/dev/null ||
		skip "no syslog socket and no private mount namespace to make one"
	sock="$BATS_TEST_TMPDIR/log.sock"
	listen_syslog "$sock" "$got"
	# /dev/log only in a namespace of this test: a tmpfs /dev holding
	# what the daemon opens, and our socket
	fs_env
	MNT="$(mktemp -d "${BATS_TMPDIR:-/tmp}/lfs-mnt.XXXXXX")"
	FS_LOG="$MNT.log"
	# shellcheck disable=SC2016 # expanded by the inner sh
	run env "${FS_ENV[@]}" unshare -m --propagation private sh -c '
		set -e
		old=$(mktemp -d)
		mount --rbind /dev "$old"
		mount -t tmpfs tmpfs /dev
		for n in null zero fuse urandom random; do
			touch "/dev/$n"
			mount --bind "$old/$n" "/dev/$n"
		done
		touch /dev/log
		mount --bind "$1" /dev/log
		"$2" -o timeout=2 "$3"
		ls "$3/street-scenes" >/dev/null
		fusermount3 -u "$3" || umount "$3"' sh "$sock" "$LIGHTLYFS_BIN" "$MNT"
	assert_success
	for _ in $(seq 1 50); do grep -q "mounted" "$got" && break; sleep 0.1; done
	kill "$LISTEN_PID"
	wait "$LISTEN_PID" 2>/dev/null || true
	run cat "$got"
	# <30>: facility daemon (3 * 8) + info (6)
	assert_output --regexp "<30>.*lightlyfs\[[0-9]+\]: lightlyfs [0-9][^ ]* mounted $EMU_URL at $MNT"
	run grep -F "$TOKEN" "$got"
	assert_failure
}

@test "a daemon with no syslog socket logs to its state directory, says where first, and logs its mount and its stop" {
	local state="$BATS_TEST_TMPDIR/state" log
	log="$state/lightlyfs/lightlyfs.log"
	# LIGHTLYFS_NO_SYSLOG: as on a host without /dev/log, whatever this
	# machine has
	fs_env
	MNT="$(mktemp -d "${BATS_TMPDIR:-/tmp}/lfs-mnt.XXXXXX")"
	FS_LOG="$MNT.log"
	env "${FS_ENV[@]}" LIGHTLYFS_NO_SYSLOG=1 XDG_STATE_HOME="$state" \
		"$LIGHTLYFS_BIN" -o timeout=2 "$MNT" 2>"$FS_LOG"
	mountpoint -q "$MNT"
	daemon_pid "$log"
	run cat "$FS_LOG"
	assert_output "lightlyfs: no syslog socket at /dev/log: the log goes to $log"
	run head -1 "$log"
	assert_output --regexp "lightlyfs\[$DAEMON_PID\] INFO: logging to $log: no syslog socket at /dev/log$"
	ln "$MNT/street-scenes/initial-tag/c.jpg" "$MNT/street-scenes/night/"
	fusermount3 -u "$MNT"
	for _ in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
	run cat "$log"
	assert_output --partial "mounted $EMU_URL at $MNT"
	assert_output --partial "stopping: 1 tag writes sent while mounted, 0 tags with edits left"
	run grep -F "$TOKEN" "$log"
	assert_failure
}

@test "SIGUSR1 turns debug lines on, and again off" {
	local n
	mount_fs -o cache_ttl=0
	ls "$MNT/street-scenes/night" >/dev/null
	run grep -c DEBUG "$FS_LOG"
	assert_output 0
	kill -USR1 "$FS_PID"
	for _ in $(seq 1 50); do grep -q "debug logging on" "$FS_LOG" && break; sleep 0.1; done
	kill -HUP "$FS_PID"
	sleep 0.3
	ls "$MNT/street-scenes/night" >/dev/null
	run grep -c "DEBUG: GET /v1/datasets" "$FS_LOG"
	[ "$output" -gt 0 ]
	kill -USR1 "$FS_PID"
	for _ in $(seq 1 50); do grep -q "debug logging off" "$FS_LOG" && break; sleep 0.1; done
	n=$(grep -c DEBUG "$FS_LOG")
	kill -HUP "$FS_PID"
	sleep 0.3
	ls "$MNT/street-scenes/night" "$MNT/street-scenes" >/dev/null
	run grep -c DEBUG "$FS_LOG"
	assert_output "$n"
	assert_alive
}

@test "a failed request says method, route, status, code, request id and ms; a transport failure too; never the token" {
	mount_fs -o timeout=2,cache_ttl=0
	fault '{"match": "GET /v1/datasets/{datasetId}/tags", "status": 409}'
	kill -HUP "$FS_PID"
	sleep 0.3
	run ls "$MNT/street-scenes"
	assert_failure
	faults_clear
	run cat "$FS_LOG"
	assert_output --regexp "WARN: GET /v1/datasets/$DS/tags failed: status=409 code=INJECTED_FAULT request_id=[0-9a-f]+ ms=[0-9]+ attempts=1: "
	# the route has no query: paging and the token never show
	run grep -E 'failed: .*\?' "$FS_LOG"
	assert_failure
	# no answer at all: status, code and request id are "-"
	fault '{"match": "GET /v1/datasets/{datasetId}/tags", "drop": true}'
	kill -HUP "$FS_PID"
	sleep 0.3
	run ls "$MNT/street-scenes"
	assert_failure
	faults_clear
	run cat "$FS_LOG"
	assert_output --regexp "WARN: GET /v1/datasets/$DS/tags failed: status=- code=- request_id=- ms=[0-9]+ attempts=[0-9]+: "
	run grep -F "$TOKEN" "$FS_LOG"
	assert_failure
}

@test "-o max_threads=N sets the FUSE worker threads (the mount line says how many); --help lists every option once" {
	mount_fs -o max_threads=3
	run cat "$FS_LOG"
	assert_output --regexp "mounted $EMU_URL at $MNT \(.*, threads 3, "
	run bash -c "'$LIGHTLYFS_BIN' --help | grep -oE '^ +-o [a-z_]+' | sort | uniq -d"
	assert_output ""
	run "$LIGHTLYFS_BIN" --help
	assert_output --partial "each tag's samples as files holding their images"
	assert_output --partial "max_threads=N       the maximum number of worker threads (default 16)"
}

@test "run without HOME (as mount(8) runs its helpers), the journal and cache go to the user's home from passwd (root's to /var/lib, /var/cache), not /tmp" {
	unshare -m --propagation private true 2>/dev/null ||
		skip "no private mount namespace (unshare -m) here"
	local state cache hide
	if [ "$(id -u)" -eq 0 ]; then
		state=/var/lib/lightlyfs cache=/var/cache/lightlyfs
		hide="/var/lib /var/cache"
	else
		hide=$(getent passwd "$(id -u)" | cut -d: -f6)
		state=$hide/.local/state/lightlyfs cache=$hide/.cache/lightlyfs
	fi
	MNT="$(mktemp -d "${BATS_TMPDIR:-/tmp}/lfs-mnt.XXXXXX")"
	# the machine's directories stay untouched: in a private mount
	# namespace an empty tmpfs hides each
	# shellcheck disable=SC2016 # expanded by the inner sh
	run env -u HOME -u XDG_STATE_HOME -u XDG_CACHE_HOME LIGHTLY_TOKEN="$TOKEN" \
		LIGHTLY_SERVER_LOCATION="$EMU_URL" unshare -m --propagation private sh -c '
		for d in $1; do mount -t tmpfs tmpfs "$d"; done
		"$2" -f "$3" 2>"$4/daemon.log" &
		pid=$!
		for _ in $(seq 100); do mountpoint -q "$3" && break; sleep 0.1; done
		ls "$3"
		fusermount3 -u "$3"
		wait $pid
		cat "$4/daemon.log"
		ls "$5" | grep -c "^journal-"' sh "$hide" "$LIGHTLYFS_BIN" "$MNT" "$BATS_TEST_TMPDIR" "$state"
	rmdir "$MNT"; MNT=""
	echo "$output"
	assert_line street-scenes
	assert_output --partial "state $state, cache $cache)"
	assert_line 1
	refute_output --partial "/tmp/.local"
}
