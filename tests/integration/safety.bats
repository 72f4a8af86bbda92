#!/usr/bin/env bats
# Never lose an edit: other writers, refused sends, moves whose target is
# gone, rm -r of tags that cannot be deleted, commands that half fail.
# Every case checks what the server holds afterwards through the API.

# Each @test runs in a subshell of its own, and MNT, FS_PID and friends
# are set by helpers.bash, which shellcheck does not follow.
# shellcheck disable=SC2030,SC2031,SC2153

load helpers

setup() {
	emu_start
	DS=$(make_dataset scenes a/x1.jpg a/x2.jpg b/y1.jpg top1.png top2.png top3.png)
	# A = {0, 2, 3} = a/x1.jpg b/y1.jpg top1.png
	make_tag "$DS" tag-a 0xd >/dev/null
	MNT2=""
}

teardown() {
	if [ -n "$MNT2" ]; then
		mountpoint -q "$MNT2" && fusermount3 -u "$MNT2"
		if [ -n "${FS2_PID:-}" ]; then wait_exit "$FS2_PID" 20 || true; fi
		rmdir "$MNT2" 2>/dev/null || true
	fi
	unmount_fs
	emu_stop
}

tag_json() { # tag name -> the tag as the server holds it
	api GET "/v1/datasets/$DS/tags" | py "print(json.dumps(next(t for t in d if t['name']=='$1')))"
}
mask_of() { tag_json "$1" | py "print(d['bitMaskData'])"; }
tag_names() {
	api GET "/v1/datasets/$DS/tags" | py "print(' '.join(sorted(t['name'] for t in d)))"
}
put_count() { stat_count 'PUT /v1/datasets/{datasetId}/tags/{tagId}'; }
fsync_path() {
	python3 -c '
import os, sys, errno
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    os.fsync(fd); print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])' "$1"
}
# another writer: PUT the tag's name and mask straight to the API
other_put() { # tag-name new-name hex
	api PUT "/v1/datasets/$DS/tags/$(tag_id "$DS" "$1")" \
		"{\"name\": \"$2\", \"bitMaskData\": \"$3\"}" >/dev/null
}

@test "another writer's add, removal and rename between our read and our flush are kept" {
	mount_fs -o cache_ttl=3600,flush_delay_ms=60000
	run ls "$MNT/scenes/tag-a"
	rm "$MNT/scenes/tag-a/top1.png" # ours: -3
	# theirs, after our read: +5 (top3.png), -0 (a/x1.jpg), and a new name
	other_put tag-a tag-renamed 0x2c
	assert_equal "$(fsync_path "$MNT/scenes/tag-a")" OK
	tag_json tag-renamed | py "
assert d['bitMaskData'] == '0x24', d  # {2, 5}: theirs less our removal
assert d['changes'][-1]['creator'] == 'USER_PIP', d  # the app shows us"
	assert_equal "$(tag_names)" "initial-tag tag-renamed"
}

@test "two mounts of one account editing one tag end with the union on the server" {
	mount_fs -o flush_delay_ms=60000
	MNT2=$(mktemp -d "${BATS_TMPDIR:-/tmp}/lfs-mnt2.XXXXXX")
	env LIGHTLY_TOKEN="$TOKEN" LIGHTLY_SERVER_LOCATION="$EMU_URL" \
		XDG_STATE_HOME="$BATS_TEST_TMPDIR/state" \
		"$LIGHTLYFS_BIN" -f -o flush_delay_ms=60000 "$MNT2" 2>"$MNT2.log" &
	FS2_PID=$!
	for _ in $(seq 1 100); do mountpoint -q "$MNT2" && break; sleep 0.1; done
	ls "$MNT/scenes/tag-a" "$MNT2/scenes/tag-a" >/dev/null
	ln "$MNT/scenes/initial-tag/a/x2.jpg" "$MNT/scenes/tag-a/a/"   # +1
	ln "$MNT2/scenes/initial-tag/top2.png" "$MNT2/scenes/tag-a/"   # +4
	rm "$MNT2/scenes/tag-a/b/y1.jpg"                               # -2
	assert_equal "$(fsync_path "$MNT/scenes/tag-a")" OK
	assert_equal "$(fsync_path "$MNT2/scenes/tag-a")" OK
	assert_equal "$(mask_of tag-a)" 0x1b # {0, 1, 3, 4}
	rm -f "$MNT2.log"
}

@test "sync_edits: a send that fails fails the syscall, and the mount shows the server's state" {
	mount_fs -o sync_edits,timeout=2
	run ls "$MNT/scenes/tag-a"
	fault '{"match": "PUT /v1/datasets/{datasetId}/tags/{tagId}", "status": 503}'
	run rm "$MNT/scenes/tag-a/top1.png"
	assert_failure
	assert_output --partial "Input/output error"
	faults_clear
	assert_equal "$(mask_of tag-a)" 0xd
	run ls "$MNT/scenes/tag-a"
	assert_output "$(printf 'a\nb\ntop1.png')"
}

@test "a send answered with a 4xx the table does not know (422) is rolled back, not retried" {
	mount_fs -o flush_delay_ms=60000
	rm "$MNT/scenes/tag-a/top1.png"
	stats_reset
	fault '{"match": "PUT /v1/datasets/{datasetId}/tags/{tagId}", "status": 422, "count": 1}'
	assert_equal "$(fsync_path "$MNT/scenes/tag-a")" EIO
	assert_equal "$(put_count)" 1
	assert_equal "$(fsync_path "$MNT/scenes/tag-a")" OK
	sleep 1
	assert_equal "$(put_count)" 1
	assert_equal "$(mask_of tag-a)" 0xd
	run ls "$MNT/scenes/tag-a"
	assert_output "$(printf 'a\nb\ntop1.png')"
}

@test "mv between tags with the target deleted on the server leaves the sample in the source" {
	make_tag "$DS" tag-b 0x0 >/dev/null
	mount_fs -o cache_ttl=3600,flush_delay_ms=60000
	ls "$MNT/scenes/tag-a" "$MNT/scenes/tag-b" >/dev/null
	api DELETE "/v1/datasets/$DS/tags/$(tag_id "$DS" tag-b)" >/dev/null
	mv "$MNT/scenes/tag-a/top1.png" "$MNT/scenes/tag-b/"
	fsync_path "$MNT/scenes/tag-a" >/dev/null
	assert_equal "$(mask_of tag-a)" 0xd
	assert_equal "$(tag_names)" "initial-tag tag-a"
	run ls "$MNT/scenes/tag-a"
	assert_output "$(printf 'a\nb\ntop1.png')"
	run ls "$MNT/scenes"
	assert_output "$(printf 'initial-tag\ntag-a')"
}

@test "mv between tags adds to the target before it removes from the source" {
	make_tag "$DS" tag-b 0x0 >/dev/null
	mount_fs -o flush_delay_ms=60000
	ls "$MNT/scenes/tag-b" >/dev/null
	mv "$MNT/scenes/tag-a/top1.png" "$MNT/scenes/tag-b/"
	# the source's flush sends the target's add first
	assert_equal "$(fsync_path "$MNT/scenes/tag-a")" OK
	assert_equal "$(mask_of tag-b)" 0x8
	assert_equal "$(mask_of tag-a)" 0x5
}

@test "the initial tag stands for the dataset: rm and mv out of it give EPERM before any request" {
	make_tag "$DS" tag-b 0x0 >/dev/null
	mount_fs
	# with the sizes (a page of the sample listing), which rm's stat needs
	run ls -l "$MNT/scenes/initial-tag"
	stats_reset
	run rm "$MNT/scenes/initial-tag/top1.png"
	assert_failure
	assert_output --partial "Operation not permitted"
	run mv "$MNT/scenes/initial-tag/top2.png" "$MNT/scenes/tag-b/"
	assert_failure
	assert_equal "$(stat_total)" 0
	assert_equal "$(fsync_path "$MNT/scenes")" OK
	assert_equal "$(mask_of initial-tag)" 0x3f
	assert_equal "$(mask_of tag-b)" 0x0
}

@test "rm -r of another tag's parent fails with EBUSY and leaves its samples on the server" {
	make_tag "$DS" child 0x1 tag-a >/dev/null
	mount_fs -o flush_delay_ms=100
	run rm -r "$MNT/scenes/tag-a"
	assert_failure
	assert_output --partial "Device or resource busy"
	sleep 4 # past the grace period an emptied tag waits for its rmdir
	assert_equal "$(fsync_path "$MNT/scenes")" OK
	assert_equal "$(mask_of tag-a)" 0xd
	run mount_files "$MNT/scenes/tag-a"
	assert_output "$(printf 'a/x1.jpg\nb/y1.jpg\ntop1.png')"
}

@test "rm -r of the initial tag and rm -rf of the dataset keep every sample of the dataset" {
	make_tag "$DS" child 0x1 tag-a >/dev/null
	mount_fs -o flush_delay_ms=100
	run rm -r "$MNT/scenes/initial-tag"
	assert_failure
	assert_equal "$(mask_of initial-tag)" 0x3f
	run rm -rf "$MNT/scenes"
	assert_failure
	sleep 4
	assert_equal "$(fsync_path "$MNT/scenes")" OK
	assert_equal "$(mask_of initial-tag)" 0x3f
	# a tag that is still there has what it had: none was emptied
	api GET "/v1/datasets/$DS/tags" | py "
masks = {t['name']: t['bitMaskData'] for t in d}
want = {'initial-tag': '0x3f', 'tag-a': '0xd', 'child': '0x1'}
assert all(want[n] == m for n, m in masks.items()), masks"
}

@test "rm -r of a leaf tag still empties and deletes it" {
	mount_fs -o flush_delay_ms=100
	run rm -r "$MNT/scenes/tag-a"
	assert_success
	assert_equal "$(tag_names)" "initial-tag"
}

@test "echo hi > a new sample name fails and leaves the tag as it was" {
	make_tag "$DS" tag-b 0x0 >/dev/null
	mount_fs -o flush_delay_ms=100
	stats_reset
	run bash -c "echo hi > '$MNT/scenes/tag-b/top2.png'"
	assert_failure
	assert_output --partial "Operation not permitted"
	sleep 1
	assert_equal "$(fsync_path "$MNT/scenes/tag-b")" OK
	assert_equal "$(mask_of tag-b)" 0x0
	assert_equal "$(put_count)" 0
	run ls "$MNT/scenes/tag-b"
	assert_output ""
}

@test "mkdir of a tag someone else just made gives EEXIST, and the tag shows at once" {
	mount_fs -o cache_ttl=3600
	run ls "$MNT/scenes"
	make_tag "$DS" their-tag 0x1 >/dev/null
	run mkdir "$MNT/scenes/their-tag"
	assert_failure
	assert_output --partial "File exists"
	run ls "$MNT/scenes"
	assert_output "$(printf 'initial-tag\ntag-a\ntheir-tag')"
}

@test "refused renames say what happened, never 'a subdirectory of itself'" {
	make_tag "$DS" tag-b 0x0 >/dev/null
	mount_fs
	# a tag into a tag
	run mv "$MNT/scenes/tag-a" "$MNT/scenes/tag-b"
	assert_failure
	assert_output --partial "Operation not permitted"
	refute_output --partial "subdirectory"
	# a sample under another name
	run mv "$MNT/scenes/tag-a/top1.png" "$MNT/scenes/tag-a/other.png"
	assert_failure
	assert_output --partial "Operation not permitted"
	# an invalid tag name
	run mv "$MNT/scenes/tag-a" "$MNT/scenes/a!b"
	assert_failure
	refute_output --partial "subdirectory"
	assert_equal "$(tag_names)" "initial-tag tag-a tag-b"
	assert_equal "$(mask_of tag-a)" 0xd
}

@test "a server that cannot be reached gives EIO, with the cause in the log" {
	make_dataset second z1.jpg >/dev/null
	mount_fs -o timeout=2
	emu_kill
	run ls "$MNT/second"
	assert_failure
	assert_output --partial "Input/output error"
	refute_output --partial "Connection refused"
	grep -q "refused\|connect" "$FS_LOG"
}

@test "a tag that holds only names that cannot be shown says so when rmdir refuses it" {
	local id
	id=$(api POST /v1/datasets '{"name": "hidden"}' | py "print(d['id'])")
	curl -sS -X POST --data '{"fileNames": ["ok.jpg", "x/../y.jpg"]}' \
		"$EMU_URL/_emulator/datasets/$id/samples" >/dev/null
	api POST "/v1/datasets/$id/tags/initial" '{"imgType": "full", "name": "initial-tag"}' >/dev/null
	make_tag "$id" odd 0x2 >/dev/null
	mount_fs
	run ls "$MNT/hidden/odd"
	assert_output ""
	run rmdir "$MNT/hidden/odd"
	assert_failure
	assert_output --partial "Directory not empty"
	grep -q "tag odd: not deleted: it holds 1 samples whose names cannot be shown" "$FS_LOG"
}

@test ".lightly/stats counts pending, in-flight and retrying tags" {
	mount_fs -o flush_delay_ms=60000,timeout=1
	rm "$MNT/scenes/tag-a/top1.png"
	py_stats() { py "e = d['edits']; print(e['tagsPending'], e['tagsInFlight'], e['tagsRetrying'])" <"$MNT/.lightly/stats"; }
	assert_equal "$(py_stats)" "1 0 0"
	fault '{"match": "PUT /v1/datasets/{datasetId}/tags/{tagId}", "status": 503}'
	assert_equal "$(fsync_path "$MNT/scenes/tag-a")" EIO
	assert_equal "$(py_stats)" "1 0 1"
	faults_clear
	assert_equal "$(fsync_path "$MNT/scenes/tag-a")" OK
	assert_equal "$(py_stats)" "0 0 0"
	assert_equal "$(mask_of tag-a)" 0x5
}

@test "a listing asked for before our send landed cannot undo it (the load test's lost edit)" {
	mount_fs -o cache_ttl=1,flush_delay_ms=60000,timeout=5
	run ls "$MNT/scenes/tag-a"
	rm "$MNT/scenes/tag-a/top1.png"
	sleep 1.2 # the tags are stale: the next look asks again
	# answered at once, delivered late: it shows top1.png still in tag-a
	fault '{"match": "GET /v1/datasets/{datasetId}/tags", "answer_delay_ms": 2500, "count": 1}'
	ls "$MNT/scenes" >/dev/null &
	local lister=$!
	sleep 0.7 # that listing is on the wire, with top1.png still in tag-a
	assert_equal "$(fsync_path "$MNT/scenes/tag-a")" OK
	assert_equal "$(mask_of tag-a)" 0x5
	wait "$lister"
	run ls "$MNT/scenes/tag-a"
	assert_output "$(printf 'a\nb')"
	run ln "$MNT/scenes/initial-tag/top1.png" "$MNT/scenes/tag-a/"
	assert_success
	assert_equal "$(fsync_path "$MNT/scenes/tag-a")" OK
	assert_equal "$(mask_of tag-a)" 0xd
}

@test "a send that failed but reached the server is not cancelled by the edit that undoes it" {
	mount_fs -o flush_delay_ms=60000,timeout=2
	rm "$MNT/scenes/tag-a/top1.png"
	# the PUT is applied, its answer comes after the deadline: it counts as
	# failed
	fault '{"match": "PUT /v1/datasets/{datasetId}/tags/{tagId}", "answer_delay_ms": 3500, "count": 1}'
	assert_equal "$(fsync_path "$MNT/scenes/tag-a")" EIO
	faults_clear
	assert_equal "$(mask_of tag-a)" 0x5
	ln "$MNT/scenes/initial-tag/top1.png" "$MNT/scenes/tag-a/"
	assert_equal "$(fsync_path "$MNT/scenes/tag-a")" OK
	assert_equal "$(mask_of tag-a)" 0xd
}
