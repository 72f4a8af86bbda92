#!/usr/bin/env bats
# Edits survive the daemon: kill -9 in the quiet period, a server that is
# down at unmount, a crash of a second mount; the next mount sends them.
# Each case checks what the server holds afterwards through the API.

# Each @test runs in a subshell of its own, and MNT, FS_PID and friends
# are set by helpers.bash, which shellcheck does not follow.
# shellcheck disable=SC2030,SC2031,SC2153

load helpers

setup() {
	emu_start
	DS=$(make_dataset scenes a/x1.jpg a/x2.jpg b/y1.jpg top1.png top2.png top3.png)
	make_tag "$DS" tag-a 0xd >/dev/null # {a/x1.jpg, b/y1.jpg, top1.png}
	make_tag "$DS" tag-b 0x0 >/dev/null
	STATE="$BATS_TEST_TMPDIR/state/lightlyfs"
}

teardown() {
	unmount_fs
	emu_stop
}

mask_of() {
	api GET "/v1/datasets/$DS/tags" | py "print(next(t['bitMaskData'] for t in d if t['name']=='$1'))"
}
# the daemon dies at once; the dead mount is cleaned up as a user would
crash_fs() {
	kill -9 "$FS_PID"
	wait "$FS_PID" 2>/dev/null || true
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	rmdir "$MNT"
	MNT=""
	FS_PID=""
}

@test "kill -9 with edits in the quiet period: the next mount sends them before it answers" {
	mount_fs -o flush_delay_ms=60000
	rm "$MNT/scenes/tag-a/top1.png"
	ln "$MNT/scenes/initial-tag/top2.png" "$MNT/scenes/tag-b/"
	crash_fs
	assert_equal "$(mask_of tag-a)" 0xd # nothing was sent
	assert_equal "$(mask_of tag-b)" 0x0
	mount_fs -o flush_delay_ms=60000
	# sent during the mount: nothing had to be touched first
	assert_equal "$(mask_of tag-a)" 0x5
	assert_equal "$(mask_of tag-b)" 0x10
	grep -q "journal: 2 edits of 2 tags from an earlier run sent" "$FS_LOG"
	run ls "$MNT/scenes/tag-b"
	assert_output top2.png
}

@test "a server down at unmount: the daemon exits 1, says what waits, and the next mount sends it" {
	mount_fs -o flush_delay_ms=60000,timeout=1,flush_timeout=2
	rm "$MNT/scenes/tag-a/top1.png"
	emu_kill
	fusermount3 -u "$MNT"
	local st=0
	wait_exit "$FS_PID" 30 || st=$?
	assert_equal "$st" 1
	FS_PID=""
	grep -q "1 edits of 1 tags are not on the server; they wait in $STATE/journal-" "$FS_LOG"
	emu_restart
	assert_equal "$(mask_of tag-a)" 0xd
	mount_fs
	assert_equal "$(mask_of tag-a)" 0x5
}

@test "the journal lives in the state directory, holds no token, and is empty after a clean unmount" {
	mount_fs -o flush_delay_ms=60000
	rm "$MNT/scenes/tag-a/top1.png"
	local j
	j=$(ls "$STATE"/journal-*.log)
	[ "$(stat -c %a "$j")" = 600 ]
	[ "$(stat -c %a "$STATE")" = 700 ]
	grep -q "^E " "$j"
	run grep -rq "$TOKEN" "$BATS_TEST_TMPDIR/state"
	assert_failure
	[[ $j != *"$TOKEN"* ]]
	fusermount3 -u "$MNT"
	wait_exit "$FS_PID" 30
	FS_PID=""
	assert_equal "$(mask_of tag-a)" 0x5
	run grep -c "^E " "$j"
	assert_output 0
}

@test "-o state_dir puts the journal elsewhere" {
	local dir="$BATS_TEST_TMPDIR/elsewhere"
	mount_fs -o "flush_delay_ms=60000,state_dir=$dir"
	rm "$MNT/scenes/tag-a/top1.png"
	crash_fs
	ls "$dir"/journal-*.log >/dev/null
	[ ! -d "$STATE" ] || [ -z "$(ls -A "$STATE")" ]
	mount_fs -o "state_dir=$dir"
	assert_equal "$(mask_of tag-a)" 0x5
}

@test "a journalled edit of a tag deleted meanwhile is dropped with a log line; the rest is sent" {
	mount_fs -o flush_delay_ms=60000
	rm "$MNT/scenes/tag-a/top1.png"
	ln "$MNT/scenes/initial-tag/top3.png" "$MNT/scenes/tag-b/"
	crash_fs
	api DELETE "/v1/datasets/$DS/tags/$(tag_id "$DS" tag-b)" >/dev/null
	mount_fs
	assert_equal "$(mask_of tag-a)" 0x5
	grep -q "journal: edits of tag .* dropped" "$FS_LOG"
	run ls "$MNT/scenes"
	assert_output "$(printf 'initial-tag\ntag-a')"
}

@test "another writer's change after the crash is kept when the journal is replayed" {
	mount_fs -o flush_delay_ms=60000
	rm "$MNT/scenes/tag-a/top1.png"
	crash_fs
	# theirs: + top3.png (5)
	api PUT "/v1/datasets/$DS/tags/$(tag_id "$DS" tag-a)" \
		'{"name": "tag-a", "bitMaskData": "0x2d"}' >/dev/null
	mount_fs
	assert_equal "$(mask_of tag-a)" 0x25
}
