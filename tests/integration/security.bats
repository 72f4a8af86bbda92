#!/usr/bin/env bats
# The API token and the mount's exposure: the token never shows in logs (at
# debug level, through failing requests), process arguments, .lightly/stats
# or the errors of a failed mount; token files others can read are refused;
# plain http to another host is refused before any packet is sent;
# allow_other needs default_permissions.  The last test reads every log this
# file produced, looking for the token.

# Each @test runs in a subshell of its own, so MNT, status and output set in
# one test (directly, or by mount_fs and run) stay in it, as they should.
# shellcheck disable=SC2030,SC2031
load helpers

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	# helpers.bash makes a token per process: one for the whole file, so
	# that the last test can look for it in every log
	export SUITE_TOKEN="$TOKEN-$RANDOM$RANDOM"
	mkdir -p "$BATS_FILE_TMPDIR/logs"
}

setup() {
	TOKEN=$SUITE_TOKEN
	emu_start
	seed_account '[{"name": "vault", "samples": ["a.jpg", "b.jpg", "c/d.jpg"],
	  "tags": [["some", "0x1"]]}]' >/dev/null
}

# every log and error output of a test is kept for the last test
keep() { # NAME: $output of the last `run`
	printf '%s\n' "$output" >"$BATS_FILE_TMPDIR/logs/$BATS_TEST_NUMBER.$1"
}
# unmount_fs, keeping the daemon's log
eval "helpers_unmount_fs() $(declare -f unmount_fs | tail -n +2)"
unmount_fs() {
	local log=${FS_LOG:-}
	KEEP_LOGS=1 helpers_unmount_fs
	if [ -n "$log" ] && [ -f "$log" ]; then
		mv "$log" "$BATS_FILE_TMPDIR/logs/$BATS_TEST_NUMBER.$(basename "$log")"
	fi
	FS_LOG=""
}

teardown() {
	[ -n "${EMU_PID:-}" ] && faults_clear
	unmount_fs
	emu_stop
}

no_token_in() { # FILE...
	run grep -lF -- "$TOKEN" "$@"
	assert_failure
	assert_output ""
}

# a few operations, some of them failing on the server's side
exercise() {
	ls "$MNT" "$MNT/vault" "$MNT/vault/some" >/dev/null
	cat "$MNT/vault/.lightly/dataset.json" "$MNT/vault/.lightly/tags/some.json" >/dev/null
	fault '{"match": "GET /v1/datasets/{datasetId}/mappings", "status": 500}'
	fault '{"match": "POST /v1/datasets/{datasetId}/tags", "status": 401}'
	fault '{"match": "PUT /v1/datasets/{datasetId}/tags/{tagId}", "status": 400, "count": 1}'
	fault '{"match": "DELETE /v1/datasets/{datasetId}/tags/{tagId}", "status": 403}'
	fault '{"match": "GET /v1/datasets/{datasetId}/tags", "drop": true, "count": 2}'
	mkdir "$MNT/vault/new-tag" 2>/dev/null || true
	ln "$MNT/vault/initial-tag/b.jpg" "$MNT/vault/some/" 2>/dev/null || true
	fs_try fsync "$MNT/vault/some" >/dev/null
	rmdir "$MNT/vault/some" 2>/dev/null || true
	sleep 1.2 # past cache_ttl=1: refreshes, some failing
	ls "$MNT/vault" "$MNT/vault/initial-tag" >/dev/null 2>&1 || true
	cat "$MNT/.lightly/stats" >/dev/null
	faults_clear
}

@test "the token is in no log line at debug level, through failing and refused requests" {
	mount_fs -o log_level=debug,cache_ttl=1,timeout=3,flush_delay_ms=100
	exercise
	# the log did record the requests and failures
	grep -q DEBUG "$FS_LOG"
	grep -q "GET /v1/datasets" "$FS_LOG"
	no_token_in "$FS_LOG"
	unmount_fs
	# and with FUSE's own debug output
	mount_fs -d -o cache_ttl=1,timeout=3
	exercise
	no_token_in "$FS_LOG"
}

@test "-o token= works, and neither /proc/PID/cmdline nor ps shows it" {
	local form args
	for form in "-o token=$TOKEN" "-otoken=$TOKEN" "-o cache_ttl=5,token=$TOKEN,timeout=5"; do
		read -ra args <<<"$form"
		# the token as -o token= and not in the environment
		mount_fs -u LIGHTLY_TOKEN "${args[@]}"
		run ls "$MNT/vault/some"
		assert_output "a.jpg"
		run tr '\0' ' ' <"/proc/$FS_PID/cmdline"
		assert_output --partial "lightlyfs"
		refute_output --partial "$TOKEN"
		run ps -o args= -p "$FS_PID"
		refute_output --partial "$TOKEN"
		# no process but the emulator (given it as --token) shows it
		run bash -c "ps -eo pid=,args= | awk -v e=$EMU_PID '\$1 != e'"
		refute_output --partial "$TOKEN"
		run grep -F -- "$TOKEN" /proc/self/mountinfo
		assert_failure
		unmount_fs
	done
}

@test "the token never shows in .lightly/stats, even after failures" {
	mount_fs -o cache_ttl=1,timeout=3,flush_delay_ms=100
	exercise
	fault '{"match": "GET /v1/datasets/{datasetId}/tags", "status": 500}'
	sleep 1.2
	ls "$MNT/vault" >/dev/null 2>&1 || true
	run cat "$MNT/.lightly/stats"
	assert_success
	refute_output --partial "$TOKEN"
	python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["api"]["failures"] >= 1, s; assert s["api"]["lastError"], s' \
		"$MNT/.lightly/stats"
	faults_clear
}

@test "a failed mount's error never shows the token, whatever the cause" {
	local secret="wrong-$TOKEN"
	MNT=$(mktemp -d)
	# a rejected token (the rejected one is a secret too)
	run env LIGHTLY_TOKEN="$secret" LIGHTLY_SERVER_LOCATION="$EMU_URL" "$LIGHTLYFS_BIN" -f "$MNT"
	keep rejected
	assert_failure
	refute_output --partial "$secret"
	# the server failing, unreachable, or answering nonsense
	fault '{"match": "GET /v1/datasets", "status": 500}'
	run env LIGHTLY_TOKEN="$TOKEN" LIGHTLY_SERVER_LOCATION="$EMU_URL" "$LIGHTLYFS_BIN" -f -o timeout=2 "$MNT"
	keep server-500
	assert_failure
	refute_output --partial "$TOKEN"
	faults_clear
	fault '{"match": "GET /v1/datasets", "body": "<html>oops"}'
	run env LIGHTLY_TOKEN="$TOKEN" LIGHTLY_SERVER_LOCATION="$EMU_URL" "$LIGHTLYFS_BIN" -f -o timeout=2 "$MNT"
	keep server-html
	assert_failure
	refute_output --partial "$TOKEN"
	faults_clear
	run env LIGHTLY_TOKEN="$TOKEN" LIGHTLY_SERVER_LOCATION=http://127.0.0.1:9 "$LIGHTLYFS_BIN" -f -o timeout=2 "$MNT"
	keep unreachable
	assert_failure
	refute_output --partial "$TOKEN"
	# the token given as an option, with an option FUSE does not know
	run env -u LIGHTLY_TOKEN LIGHTLY_SERVER_LOCATION="$EMU_URL" "$LIGHTLYFS_BIN" -f \
		-o "token=$TOKEN,no_such_option=1" "$MNT"
	keep unknown-option
	assert_failure
	refute_output --partial "$TOKEN"
	run mountpoint -q "$MNT"
	assert_failure
	rmdir "$MNT"
	MNT=""
}

@test "a server error that echoes the token is neither logged nor shown with it" {
	mount_fs -o cache_ttl=1,timeout=3,flush_delay_ms=100
	ls "$MNT/vault/some" >/dev/null
	fault "{\"match\": \"GET /v1/datasets/{datasetId}/tags\", \"status\": 400,
	  \"body\": \"{\\\"code\\\": \\\"BAD_REQUEST\\\", \\\"error\\\": \\\"bad query ?token=$TOKEN\\\"}\"}"
	fault "{\"match\": \"PUT /v1/datasets/{datasetId}/tags/{tagId}\", \"status\": 400,
	  \"body\": \"{\\\"code\\\": \\\"BAD_REQUEST\\\", \\\"error\\\": \\\"cannot use token $TOKEN\\\"}\"}"
	rm "$MNT/vault/some/a.jpg"
	fs_try fsync "$MNT/vault/some" >/dev/null
	sleep 1.2
	ls "$MNT/vault" >/dev/null 2>&1 || true
	run cat "$MNT/.lightly/stats"
	refute_output --partial "$TOKEN"
	faults_clear
	no_token_in "$FS_LOG"
}

@test "a token file that group or others can read is refused, and its content not shown" {
	local tf="$BATS_TEST_TMPDIR/token" mode
	printf '%s\n' "$TOKEN" >"$tf"
	MNT=$(mktemp -d)
	for mode in 644 640 604 660 666; do
		chmod "$mode" "$tf"
		run env -u LIGHTLY_TOKEN LIGHTLY_SERVER_LOCATION="$EMU_URL" \
			"$LIGHTLYFS_BIN" -f -o "token_file=$tf" "$MNT"
		keep "mode-$mode"
		assert_failure
		assert_output --partial "readable by others"
		refute_output --partial "$TOKEN"
		run mountpoint -q "$MNT"
		assert_failure
	done
	rmdir "$MNT"
	MNT=""
	for mode in 600 400; do
		chmod "$mode" "$tf"
		mount_fs -u LIGHTLY_TOKEN -o "token_file=$tf"
		run ls "$MNT/vault/some"
		assert_output "a.jpg"
		unmount_fs
	done
}

# isolated_mount SERVER [options...]: runs the daemon where no packet can leave
# (a network namespace of its own) and, when strace is there, records every
# connect/send; sets $status, $output, TOOK and TRACE
isolated_mount() {
	local server=$1 t tracer=()
	shift
	unshare -n true 2>/dev/null || skip "no network namespaces here (unshare -n): cannot prove no traffic"
	TRACE="$BATS_TEST_TMPDIR/trace"
	: >"$TRACE"
	command -v strace >/dev/null &&
		tracer=(strace -f -qq -e "trace=connect,sendto,sendmsg" -o "$TRACE")
	MNT=$(mktemp -d)
	t=$(now_s)
	# (LeakSanitizer cannot run under ptrace: off in a sanitizer build)
	run timeout 20 unshare -n env LIGHTLY_TOKEN="$TOKEN" LIGHTLY_SERVER_LOCATION="$server" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		"${tracer[@]}" "$LIGHTLYFS_BIN" -f "$@" "$MNT"
	TOOK=$(since "$t")
	run_status=$status
	run_output=$output
	run mountpoint -q "$MNT"
	assert_failure
	rmdir "$MNT"
	MNT=""
	status=$run_status
	output=$run_output
}

@test "plain http to a host other than this machine is refused at once, before any packet" {
	local url
	for url in http://10.255.255.1:1 http://lightly.invalid:1 http://127.0.0.1.example.invalid:1 \
		http://localhost.example.invalid:1 "http://127.0.0.1:1@10.255.255.1:1/" \
		"http://[::ffff:10.255.255.1]:1"; do
		isolated_mount "$url"
		keep "insecure-$(echo "$url" | tr -c 'a-z0-9' _)"
		assert_failure
		assert_output --partial "allow_insecure"
		refute_output --partial "$TOKEN"
		assert_between "$TOOK" "" 2
		# not one connect or send to an internet address, DNS included
		run grep -E 'AF_INET' "$TRACE"
		assert_failure
	done
	# the same through -o server=, and with a token file
	local tf="$BATS_TEST_TMPDIR/token"
	(umask 077 && printf '%s\n' "$TOKEN" >"$tf")
	isolated_mount "$EMU_URL" -o server=http://10.255.255.1:1 -o "token_file=$tf"
	assert_failure
	assert_output --partial "allow_insecure"
	run grep -E 'AF_INET' "$TRACE"
	assert_failure
}

@test "plain http to this machine is allowed: 127.0.0.1 and localhost" {
	local url
	for url in "$EMU_URL" "http://localhost:$EMU_PORT"; do
		mount_fs -o "server=$url"
		run ls "$MNT/vault/some"
		assert_output "a.jpg"
		unmount_fs
	done
}

@test "-o allow_other without default_permissions is refused with a clear message" {
	MNT=$(mktemp -d)
	local o
	for o in allow_other "cache_ttl=5,allow_other" "allow_other,timeout=5"; do
		run env LIGHTLY_TOKEN="$TOKEN" LIGHTLY_SERVER_LOCATION="$EMU_URL" \
			timeout 20 "$LIGHTLYFS_BIN" -f -o "$o" "$MNT"
		keep allow-other
		assert_failure
		assert_output --partial "default_permissions"
		run mountpoint -q "$MNT"
		assert_failure
	done
	rmdir "$MNT"
	MNT=""
	# with it, others may see what the mode bits allow them
	if [ "$(id -u)" -eq 0 ] || grep -q '^user_allow_other' /etc/fuse.conf 2>/dev/null; then
		mount_fs -o allow_other,default_permissions
		run ls "$MNT/vault/some"
		assert_output "a.jpg"
	fi
}

@test "no log or error output of this file holds the token" {
	# every earlier test left its daemon log or its error output here
	local n
	n=$(find "$BATS_FILE_TMPDIR/logs" -type f | wc -l)
	[ "$n" -ge 10 ] || fail "only $n logs were kept"
	run grep -rlF -- "$SUITE_TOKEN" "$BATS_FILE_TMPDIR/logs"
	assert_output ""
	# nor a mount of this machine
	run grep -F -- "$SUITE_TOKEN" /proc/self/mountinfo
	assert_failure
}
