#!/usr/bin/env bats
# The offline mount: the last listing kept in the state directory and the
# content cache serve a mount whose server cannot be reached (or that is
# asked to with -o offline), read-only; it goes online when the server
# answers again.

# Each @test runs in a subshell of its own.
# shellcheck disable=SC2030,SC2031
load helpers

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
}

setup() {
	emu_start
	DS=$(make_dataset offline-set a/1.jpg a/2.jpg 3.jpg 4.jpg)
	make_tag "$DS" picked 0x6 >/dev/null
	make_tag "$DS" other 0x9 >/dev/null
	T="$BATS_TEST_TMPDIR"
}

teardown() {
	unmount_fs
	emu_stop
}

# What a user sees of the dataset: names and sizes of every entry.
listing() {
	(cd "$MNT/offline-set" && find . -mindepth 1 -not -path './.lightly*' \
		-printf '%p %y %s\n' | LC_ALL=C sort)
}

# A first, online mount lists the dataset and reads one file, so that
# the snapshot and the content cache hold them; then it is unmounted.
warm_up() {
	mount_fs
	listing >"$T/listing"
	cp "$MNT/offline-set/picked/a/2.jpg" "$T/want"
	unmount_fs
}

# wait_offline VALUE [SECONDS]: until .lightly/stats says offline VALUE
wait_offline() {
	for _ in $(seq 1 $((${2:-10} * 5))); do
		[ "$(fs_stat offline 2>/dev/null)" = "$1" ] && return 0
		sleep 0.2
	done
	fail "offline is $(fs_stat offline), expected $1 after ${2:-10} s"
}

@test "a mount whose server is down serves the last listing and the cached file, read-only" {
	warm_up
	emu_kill
	mount_fs -o timeout=2
	run listing
	assert_output "$(cat "$T/listing")"
	run ls "$MNT/offline-set"
	assert_output "$(printf 'initial-tag\nother\npicked')"
	cmp "$MNT/offline-set/picked/a/2.jpg" "$T/want"
	# never read: not in the cache, and no server to ask
	assert_equal "$(fs_try cat "$MNT/offline-set/other/4.jpg")" ENETDOWN
	assert_equal "$(fs_try mkdir "$MNT/offline-set/new-tag")" EROFS
	assert_equal "$(fs_try ln "$MNT/offline-set/other/4.jpg" "$MNT/offline-set/picked/4.jpg")" EROFS
	assert_equal "$(fs_try rm "$MNT/offline-set/picked/a/2.jpg")" EROFS
	assert_equal "$(fs_try rmdir "$MNT/offline-set/picked")" EROFS
	run mv "$MNT/offline-set/picked" "$MNT/offline-set/renamed"
	assert_failure
	assert_output --partial "Read-only file system"
	run cp "$T/want" "$MNT/offline-set/other/a/2.jpg"
	assert_failure
	assert_output --partial "Read-only file system"
	run bash -c "echo more >'$MNT/offline-set/.lightly/upsize'"
	assert_failure
	assert_output --partial "Read-only file system"
	assert_equal "$(fs_stat offline)" True
	grep -q "offline: the server cannot be reached" "$FS_LOG"
	# nothing changed: the listing is still the snapshot's
	run listing
	assert_output "$(cat "$T/listing")"
	assert_alive
}

@test "a mount that started offline goes online when the server answers, and edits work again" {
	warm_up
	emu_kill
	mount_fs -o timeout=2,offline_retry=1
	assert_equal "$(fs_stat offline)" True
	emu_restart
	wait_offline False 10
	grep -q "online: the server answers again" "$FS_LOG"
	make_tag "$DS" made-elsewhere 0x1 >/dev/null
	wait_list "$MNT/offline-set" ".lightly initial-tag made-elsewhere other picked" 5
	mkdir "$MNT/offline-set/made-here"
	ln "$MNT/offline-set/other/4.jpg" "$MNT/offline-set/made-here/"
	sync "$MNT/offline-set/made-here"
	assert_equal "$(server_filenames "$DS" "$(tag_id "$DS" made-here)")" "4.jpg"
	# a file never read now comes from the server
	run cat "$MNT/offline-set/other/4.jpg"
	assert_success
}

@test "edits left in the journal by a mount that died are sent once the offline mount goes online" {
	warm_up
	mount_fs -o flush_delay_ms=60000
	ln "$MNT/offline-set/other/4.jpg" "$MNT/offline-set/picked/"
	kill -9 "$FS_PID"
	wait "$FS_PID" 2>/dev/null || true
	FS_PID=""
	unmount_fs
	emu_kill
	mount_fs -o timeout=2,offline_retry=1
	# the edit shows, but cannot reach the server yet
	run ls "$MNT/offline-set/picked"
	assert_output "$(printf '3.jpg\n4.jpg\na')"
	assert_equal "$(fs_stat edits.journalPending)" 1
	emu_restart
	wait_offline False 10
	for _ in $(seq 1 50); do
		[ "$(fs_stat edits.journalPending)" = 0 ] && break
		sleep 0.2
	done
	assert_equal "$(server_filenames "$DS" "$(tag_id "$DS" picked)")" "$(printf '3.jpg\n4.jpg\na/2.jpg')"
}

@test "-o offline with the server up makes no request at all" {
	warm_up
	stats_reset
	mount_fs -o offline,offline_retry=1
	run listing
	assert_output "$(cat "$T/listing")"
	cmp "$MNT/offline-set/picked/a/2.jpg" "$T/want"
	assert_equal "$(fs_try cat "$MNT/offline-set/other/4.jpg")" ENETDOWN
	assert_equal "$(fs_try mkdir "$MNT/offline-set/new-tag")" EROFS
	grep -q "offline (-o offline)" "$FS_LOG"
	# -o offline stays offline: it never asks
	sleep 2.5
	assert_equal "$(fs_stat offline)" True
	unmount_fs
	assert_equal "$(stat_total)" 0
}

@test "a server that answers 503 mounts offline too" {
	warm_up
	fault '{"match": "GET /v1/datasets", "status": 503}'
	mount_fs -o timeout=2
	assert_equal "$(fs_stat offline)" True
	run ls "$MNT/offline-set"
	assert_output "$(printf 'initial-tag\nother\npicked')"
}

@test "a rejected token still fails the mount, snapshot or not" {
	warm_up
	fault '{"match": "GET /v1/datasets", "status": 401}'
	run_mount -o timeout=2
	assert_failure
	assert_output --partial "rejected the API token"
}

@test "with no snapshot and no server the mount fails as before" {
	emu_kill
	run_mount -o timeout=2
	assert_failure
	assert_output --partial "cannot reach"
	run_mount -o offline
	assert_failure
	assert_output --partial "no listing of this account"
}

@test "two accounts on one server never share a snapshot" {
	warm_up
	emu_kill
	run_mount LIGHTLY_TOKEN=another-token -o timeout=2
	assert_failure
	assert_output --partial "cannot reach"
}

@test "the snapshot is written without an unmount, once the listing settles" {
	mount_fs
	listing >"$T/listing"
	# written a round after the listing settled, within 3 s
	for _ in $(seq 1 30); do
		compgen -G "$BATS_TEST_TMPDIR/state/lightlyfs/snapshot-*/$DS" >/dev/null && break
		sleep 0.1
	done
	run bash -c "ls '$BATS_TEST_TMPDIR'/state/lightlyfs/snapshot-*/"
	assert_output --partial datasets
	assert_output --partial "$DS"
	# the token never shows in the state directory
	run grep -rl "$TOKEN" "$BATS_TEST_TMPDIR/state"
	assert_failure
	kill -9 "$FS_PID"
	wait "$FS_PID" 2>/dev/null || true
	FS_PID=""
	unmount_fs
	emu_kill
	mount_fs -o timeout=2
	run listing
	assert_output "$(cat "$T/listing")"
}

@test "a damaged dataset file leaves that dataset without tags, the rest is served" {
	warm_up
	truncate -s 20 "$BATS_TEST_TMPDIR"/state/lightlyfs/snapshot-*/"$DS"
	emu_kill
	mount_fs -o timeout=2
	assert_equal "$(fs_list "$MNT")" ".lightly offline-set"
	assert_equal "$(fs_list "$MNT/offline-set")" "!ENETDOWN"
	assert_equal "$(fs_stat offline)" True
}

@test "-o dataset mounts that dataset offline as the root" {
	warm_up
	emu_kill
	mount_fs -o timeout=2,dataset=offline-set
	assert_equal "$(fs_list "$MNT")" ".lightly initial-tag other picked"
	cmp "$MNT/picked/a/2.jpg" "$T/want"
	grep -q "offline: the server cannot be reached" "$FS_LOG"
	unmount_fs
	run_mount -o timeout=2,dataset=no-such-set
	assert_failure
	assert_output --partial "cannot reach"
}
