#!/usr/bin/env bats
# Two writers of one tag at the same moment: two mounts of one account, or a
# mount and a script using the API.  The API has no conditional PUT, so the
# emulator holds both mounts' reads of the tag until both have read (a
# fault that answers at once and sends late): each then PUTs a mask made
# without the other's edit.  Per sample, the last writer wins; no write may
# undo another mount's edit of another sample.

load helpers

GET_TAG='GET /v1/datasets/{datasetId}/tags/{tagId}'
PUT_TAG='PUT /v1/datasets/{datasetId}/tags/{tagId}'

setup() {
	emu_start
	DS=$(make_dataset pair a.png b.png c.png d.png e.png)
	T=$(make_tag "$DS" shared 0x1) # a.png
	# a long quiet period: only the test's fsyncs send
	mount_fs -o flush_delay_ms=60000 -o cache_ttl=1
	A=$MNT A_PID=$FS_PID A_LOG=$FS_LOG
	mount_fs "XDG_STATE_HOME=$BATS_TEST_TMPDIR/b-state" \
		"XDG_CACHE_HOME=$BATS_TEST_TMPDIR/b-cache" -o flush_delay_ms=60000 -o cache_ttl=1
	B=$MNT B_PID=$FS_PID B_LOG=$FS_LOG
	ls "$A/pair/shared" "$B/pair/shared" >/dev/null
}

teardown() {
	MNT=$A FS_PID=$A_PID FS_LOG=$A_LOG
	unmount_fs
	MNT=$B FS_PID=$B_PID FS_LOG=$B_LOG
	unmount_fs
	emu_stop
}

# the tag's files on the server, one line
server_tag() { server_filenames "$DS" "$T" | tr '\n' ' '; }
# the tag's files as a mount shows them, one line
mount_tag() { mount_files "$1/pair/shared" | tr '\n' ' '; }

# both mounts send at once, each tag read answered only after both read
both_send() {
	fault "{\"match\": \"$GET_TAG\", \"answer_delay_ms\": 700, \"count\": 2}"
	fs_try fsync "$A/pair/shared" >"$BATS_TEST_TMPDIR/a.out" &
	local pa=$!
	fs_try fsync "$B/pair/shared" >"$BATS_TEST_TMPDIR/b.out"
	wait "$pa"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/a.out") $(cat "$BATS_TEST_TMPDIR/b.out")" "OK OK"
	faults_clear
}

@test "two mounts ln different samples into one tag at once: the server keeps both" {
	ln "$A/pair/initial-tag/b.png" "$A/pair/shared/"
	ln "$B/pair/initial-tag/c.png" "$B/pair/shared/"
	stats_reset
	both_send
	assert_equal "$(server_tag)" "a.png b.png c.png "
	# a read-back found the two writes crossed and wrote again: the two
	# PUTs and one more (two when both read-backs see it before either
	# rewrite lands), and the log says so
	assert_between "$(stat_count "$PUT_TAG")" 3 4
	run cat "$A_LOG" "$B_LOG"
	assert_output --partial "written again so that both hold"
	# and each mount shows what the server holds once it reads it again
	sleep 1.2 # the mounts' cache TTL in tests
	assert_equal "$(mount_tag "$A")" "a.png b.png c.png "
	assert_equal "$(mount_tag "$B")" "a.png b.png c.png "
}

@test "two mounts rm different samples of one tag at once: both stay removed" {
	api PUT "/v1/datasets/$DS/tags/$T" '{"name": "shared", "bitMaskData": "0x1f"}' >/dev/null
	sleep 1.2
	ls "$A/pair/shared" "$B/pair/shared" >/dev/null
	rm "$A/pair/shared/d.png"
	rm "$B/pair/shared/e.png"
	both_send
	assert_equal "$(server_tag)" "a.png b.png c.png "
}

@test "an add and a remove of other samples at once: both hold" {
	ln "$A/pair/initial-tag/d.png" "$A/pair/shared/"
	rm "$B/pair/shared/a.png"
	both_send
	assert_equal "$(server_tag)" "d.png "
}

@test "both mounts change the same sample at once: one of the two holds, and both mounts show it" {
	ln "$A/pair/initial-tag/b.png" "$A/pair/shared/"
	ln "$B/pair/initial-tag/b.png" "$B/pair/shared/"
	rm "$B/pair/shared/a.png"
	both_send
	# b.png added by both; a.png removed by B alone
	assert_equal "$(server_tag)" "b.png "
	sleep 1.2
	assert_equal "$(mount_tag "$A")" "b.png "
}

@test "a script's PUT that lands after a mount's write stands: the mount does not write over it" {
	ln "$A/pair/initial-tag/b.png" "$A/pair/shared/"
	assert_equal "$(fs_try fsync "$A/pair/shared")" OK
	# the script read before the mount wrote, and puts its own mask
	api PUT "/v1/datasets/$DS/tags/$T" '{"name": "shared", "bitMaskData": "0x5"}' >/dev/null
	assert_equal "$(server_tag)" "a.png c.png "
	ln "$A/pair/initial-tag/d.png" "$A/pair/shared/"
	assert_equal "$(fs_try fsync "$A/pair/shared")" OK
	# the mount's next write is its own delta on the script's mask
	assert_equal "$(server_tag)" "a.png c.png d.png "
}

@test "a script that read before a mount's write puts after it: the mount writes its edit again, and the script's holds" {
	ln "$A/pair/initial-tag/b.png" "$A/pair/shared/"
	# the flush's read is answered at once, its read-back 1.5 s late
	fault "{\"match\": \"$GET_TAG\", \"delay_ms\": 1, \"count\": 1}"
	fault "{\"match\": \"$GET_TAG\", \"delay_ms\": 1500, \"count\": 1}"
	fs_try fsync "$A/pair/shared" >"$BATS_TEST_TMPDIR/a.out" &
	local pa=$!
	for _ in $(seq 100); do
		[ "$(server_tag)" = "a.png b.png " ] && break
		sleep 0.05
	done
	assert_equal "$(server_tag)" "a.png b.png "
	# the script had read the tag before (a.png): its mask adds c.png and,
	# without knowing, takes b.png out again
	api PUT "/v1/datasets/$DS/tags/$T" '{"name": "shared", "bitMaskData": "0x5"}' >/dev/null
	wait "$pa"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/a.out")" OK
	assert_equal "$(server_tag)" "a.png b.png c.png "
	run cat "$A_LOG"
	assert_output --partial "written again so that both hold"
}

@test "a script that stamps its write (scripts/tag_edit.py) and a mount at once: both edits hold" {
	# the script's read is taken now and answered 1.5 s late, so it writes
	# a mask made before the mount's write landed
	fault "{\"match\": \"$GET_TAG\", \"answer_delay_ms\": 1500, \"count\": 1}"
	LIGHTLY_TOKEN=$TOKEN python3 "$BATS_TEST_DIRNAME/../../scripts/tag_edit.py" \
		--server "$EMU_URL" "$DS" "$T" +2 >"$BATS_TEST_TMPDIR/script.out" &
	local ps=$!
	sleep 0.3
	ln "$A/pair/initial-tag/b.png" "$A/pair/shared/"
	assert_equal "$(fs_try fsync "$A/pair/shared")" OK
	assert_equal "$(server_tag)" "a.png b.png "
	wait "$ps"
	# the script's read-back found the mount's stamp between its read and
	# its write, and did the mount's add again
	assert_equal "$(server_tag)" "a.png b.png c.png "
	run cat "$BATS_TEST_TMPDIR/script.out"
	assert_output --partial '"rewrites": 1'
}

@test "a lone mount's flush costs a read, a write and a read-back, and stamps the tag's history" {
	ln "$A/pair/initial-tag/b.png" "$A/pair/shared/"
	ln "$A/pair/initial-tag/c.png" "$A/pair/shared/"
	stats_reset
	assert_equal "$(fs_try fsync "$A/pair/shared")" OK
	assert_equal "$(stat_count "$GET_TAG") $(stat_count "$PUT_TAG")" "2 1"
	assert_equal "$(server_tag)" "a.png b.png c.png "
	# the history entry says who wrote what, for the app and other mounts
	run bash -c "$(declare -f api py); EMU_URL=$EMU_URL TOKEN=$TOKEN \
		api GET /v1/datasets/$DS/tags/$T | py \"c = d['changes'][-1]['changes']; \
print(c['bitMaskData'], sorted(c['lightlyfs']['added']), c['lightlyfs']['removed'])\""
	assert_output "{'added': 2, 'removed': 0} [1, 2] []"
}

@test "a tag made here and deleted elsewhere leaves the listing at the next refresh" {
	mkdir "$A/pair/made-here"
	id=$(tag_id "$DS" made-here)
	api DELETE "/v1/datasets/$DS/tags/$id" >/dev/null
	sleep 1.2 # the mount's cache TTL in these tests
	ls "$A/pair" >/dev/null # the listing after the TTL asks again
	run ls "$A/pair"
	refute_line made-here
}
