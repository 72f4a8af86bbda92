#!/usr/bin/env bats
# Managing tags with shell tools: every row of the README's tables, checked
# in the mount and on the server (read back through the emulator's API).

load helpers

setup() {
	emu_start
	DS=$(make_dataset scenes a/x1.jpg a/x2.jpg b/y1.jpg top1.png top2.png top3.png)
	# A = {0, 2, 3} = a/x1.jpg b/y1.jpg top1.png
	make_tag "$DS" tag-a 0xd >/dev/null
	make_dataset other-set z1.jpg z2.jpg >/dev/null
}

teardown() {
	unmount_fs
	emu_stop
}

mask_of() { # tag name -> bitMaskData on the server
	api GET "/v1/datasets/$DS/tags" | py "print(next(t['bitMaskData'] for t in d if t['name']=='$1'))"
}
tag_names() {
	api GET "/v1/datasets/$DS/tags" | py "print(' '.join(sorted(t['name'] for t in d)))"
}
put_count() { stat_count 'PUT /v1/datasets/{datasetId}/tags/{tagId}'; }
# fsync a path (file or directory) and print the errno name or OK
fsync_path() {
	python3 -c '
import os, sys, errno
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    os.fsync(fd); print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])' "$1"
}

@test "mkdir DS/NEW creates an empty tag whose parent is the initial tag" {
	mount_fs
	run mkdir "$MNT/scenes/new-tag"
	assert_success
	run ls "$MNT/scenes/new-tag"
	assert_output ""
	api GET "/v1/datasets/$DS/tags" | py "
t = next(t for t in d if t['name'] == 'new-tag')
init = next(t for t in d if t['name'] == 'initial-tag')
assert t['bitMaskData'] == '0x0', t
assert t['prevTagId'] == init['id'], t
assert t['totSize'] == 6, t"
	run ls "$MNT/scenes"
	assert_output "$(printf 'initial-tag\nnew-tag\ntag-a')"
}

@test "mkdir in a dataset with no tags creates the initial tag holding every sample" {
	local id
	id=$(api POST /v1/datasets '{"name": "untagged"}' | py "print(d['id'])")
	curl -sS -X POST --data '{"fileNames": ["p.jpg", "q/r.jpg"]}' \
		"$EMU_URL/_emulator/datasets/$id/samples" >/dev/null
	mount_fs
	run mkdir "$MNT/untagged/everything"
	assert_success
	run mount_files "$MNT/untagged/everything"
	assert_output "$(printf 'p.jpg\nq/r.jpg')"
	api GET "/v1/datasets/$id/tags" | py "
assert len(d) == 1 and d[0]['name'] == 'everything' and d[0]['prevTagId'] is None, d
assert d[0]['bitMaskData'] == '0x3', d"
}

@test "two processes racing to create one tag: exactly one succeeds, the other gets EEXIST" {
	mount_fs
	local out="$BATS_TEST_TMPDIR/race"
	local pids=()
	for i in 1 2 3 4; do
		(if mkdir "$MNT/scenes/raced" 2>"$out.$i.err"; then echo 0; else echo 1; fi >"$out.$i") &
		pids+=($!)
	done
	wait "${pids[@]}"
	assert_equal "$(cat "$out".? | grep -c '^0$')" 1
	assert_equal "$(cat "$out".*.err | grep -c 'File exists')" 3
	assert_equal "$(api GET "/v1/datasets/$DS/tags" | py "print(sum(t['name']=='raced' for t in d))")" 1
}

@test "rmdir of an empty tag deletes it" {
	make_tag "$DS" empty-one 0x0 >/dev/null
	mount_fs
	run rmdir "$MNT/scenes/empty-one"
	assert_success
	assert_equal "$(tag_names)" "initial-tag tag-a"
	run ls "$MNT/scenes"
	assert_output "$(printf 'initial-tag\ntag-a')"
}

@test "rmdir of a tag that holds samples gives ENOTEMPTY and sends nothing" {
	mount_fs
	stats_reset
	run rmdir "$MNT/scenes/tag-a"
	assert_failure
	assert_output --partial "Directory not empty"
	assert_equal "$(stat_count 'DELETE /v1/datasets/{datasetId}/tags/{tagId}')" 0
	assert_equal "$(tag_names)" "initial-tag tag-a"
}

@test "rmdir of another tag's parent gives EBUSY with the server's reason logged" {
	make_tag "$DS" parent-tag 0x0 >/dev/null
	make_tag "$DS" child-tag 0x1 parent-tag >/dev/null
	mount_fs
	run rmdir "$MNT/scenes/parent-tag"
	assert_failure
	assert_output --partial "Device or resource busy"
	grep -q TAG_UNDELETABLE_NOT_A_LEAF "$FS_LOG"
	assert_equal "$(tag_names)" "child-tag initial-tag parent-tag tag-a"
}

@test "rmdir of an empty initial tag gives EBUSY" {
	local id
	id=$(api POST /v1/datasets '{"name": "no-samples"}' | py "print(d['id'])")
	api POST "/v1/datasets/$id/tags/initial" '{"imgType": "full"}' >/dev/null
	mount_fs
	run rmdir "$MNT/no-samples/initial-tag"
	assert_failure
	assert_output --partial "Device or resource busy"
	grep -q TAG_UNDELETABLE_IS_INITIAL "$FS_LOG"
}

@test "mv DS/A DS/B renames the tag on the server" {
	mount_fs
	run mv "$MNT/scenes/tag-a" "$MNT/scenes/tag-b"
	assert_success
	assert_equal "$(tag_names)" "initial-tag tag-b"
	assert_equal "$(mask_of tag-b)" 0xd
	run mount_files "$MNT/scenes/tag-b"
	assert_output "$(printf 'a/x1.jpg\nb/y1.jpg\ntop1.png')"
	[ ! -e "$MNT/scenes/tag-a" ]
}

@test "renaming onto an existing tag gives EEXIST and replaces nothing" {
	make_tag "$DS" tag-c 0x2 >/dev/null
	mount_fs
	run python3 -c 'import os,sys; os.rename(sys.argv[1], sys.argv[2])' \
		"$MNT/scenes/tag-a" "$MNT/scenes/tag-c"
	assert_failure
	assert_output --partial "FileExistsError"
	assert_equal "$(tag_names)" "initial-tag tag-a tag-c"
	assert_equal "$(mask_of tag-c)" 0x2
}

@test "RENAME_EXCHANGE of two tags gives EINVAL" {
	make_tag "$DS" tag-c 0x2 >/dev/null
	mount_fs
	run python3 - "$MNT/scenes/tag-a" "$MNT/scenes/tag-c" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
r = libc.renameat2(AT_FDCWD, sys.argv[1].encode(), AT_FDCWD, sys.argv[2].encode(), RENAME_EXCHANGE)
print(os.strerror(ctypes.get_errno()) if r else "ok")
PY
	assert_output "Invalid argument"
	assert_equal "$(mask_of tag-a)" 0xd
}

@test "moving a tag to another dataset gives EXDEV" {
	mount_fs
	run python3 -c 'import os,sys; os.rename(sys.argv[1], sys.argv[2])' \
		"$MNT/scenes/tag-a" "$MNT/other-set/tag-a"
	assert_output --partial "Invalid cross-device link"
	assert_equal "$(tag_names)" "initial-tag tag-a"
}

@test "mv of a tag to another dataset leaves both datasets as they were: mv's copy is refused too" {
	make_tag "$DS" empty-tag 0x0 >/dev/null
	mount_fs
	local other
	other=$(dataset_id other-set)
	run mv "$MNT/scenes/tag-a" "$MNT/other-set/"
	assert_failure
	run mv "$MNT/scenes/empty-tag" "$MNT/other-set/empty-tag"
	assert_failure
	assert_equal "$(api GET "/v1/datasets/$other/tags" | py "print(' '.join(sorted(t['name'] for t in d)))")" "initial-tag"
	assert_equal "$(fs_list "$MNT/other-set")" ".lightly initial-tag"
	assert_equal "$(tag_names)" "empty-tag initial-tag tag-a"
	assert_equal "$(mask_of tag-a)" 0xd
	assert_equal "$(mask_of empty-tag)" 0x0
	run grep -c "mkdir other-set/.*refused, as mv's copy of a tag from another dataset" "$FS_LOG"
	assert_output 2
	# a mkdir of its own is not refused
	mkdir "$MNT/other-set/tag-a"
}

@test "names that break the tag-name pattern give EINVAL (mkdir) or EPERM (mv) before any request" {
	mount_fs
	stats_reset
	for bad in a .x 'a+b' 'a,b' 'x(y)'; do
		run mkdir "$MNT/scenes/$bad"
		assert_failure
		assert_output --partial "Invalid argument"
	done
	run python3 -c 'import os,sys; os.rename(sys.argv[1], sys.argv[2])' \
		"$MNT/scenes/tag-a" "$MNT/scenes/a!b"
	assert_output --partial "PermissionError"
	assert_equal "$(stat_count 'POST /v1/datasets/{datasetId}/tags')" 0
	assert_equal "$(stat_count 'PUT /v1/datasets/{datasetId}/tags/{tagId}')" 0
}

@test "mkdir at the root or in .lightly gives EPERM" {
	mount_fs
	run mkdir "$MNT/new-dataset"
	assert_output --partial "Operation not permitted"
	run mkdir "$MNT/scenes/.lightly/x"
	assert_output --partial "Operation not permitted"
	assert_equal "$(api GET /v1/datasets | py 'print(len(d))')" 2
}

@test "mkdir inside a tag makes a folder that lives in the mount, so mkdir -p and cp -r work" {
	make_tag "$DS" tag-e 0x0 >/dev/null
	mount_fs
	run mkdir -p "$MNT/scenes/tag-e/new/deeper"
	assert_success
	[ -d "$MNT/scenes/tag-e/new/deeper" ]
	assert_equal "$(mask_of tag-e)" 0x0
	# cp -r of a folder: its files join the tag
	run cp -r "$MNT/scenes/initial-tag/a" "$MNT/scenes/tag-e/"
	assert_success
	run mount_files "$MNT/scenes/tag-e"
	assert_output "$(printf 'a/x1.jpg\na/x2.jpg')"
	assert_equal "$(fsync_path "$MNT/scenes/tag-e")" OK
	assert_equal "$(mask_of tag-e)" 0x3
}

@test "ln DS/A/x DS/B/ adds the sample to B; another name gives EINVAL" {
	make_tag "$DS" tag-b 0x0 >/dev/null
	mount_fs
	run ln "$MNT/scenes/tag-a/top1.png" "$MNT/scenes/tag-b/"
	assert_success
	mkdir "$MNT/scenes/tag-b/b"
	run ln "$MNT/scenes/tag-a/b/y1.jpg" "$MNT/scenes/tag-b/b/"
	assert_success
	run ln "$MNT/scenes/tag-a/a/x1.jpg" "$MNT/scenes/tag-b/renamed.jpg"
	assert_failure
	assert_output --partial "Invalid argument"
	run mount_files "$MNT/scenes/tag-b"
	assert_output "$(printf 'b/y1.jpg\ntop1.png')"
	assert_equal "$(fsync_path "$MNT/scenes/tag-b")" OK
	assert_equal "$(mask_of tag-b)" 0xc
	# one sample, two tags: one file with two links
	run stat -c %h "$MNT/scenes/tag-b/top1.png"
	assert_output 3
}

@test "ln of a sample in a folder into the tag's top level gives EINVAL and logs the path it must have" {
	make_tag "$DS" tag-b 0x0 >/dev/null
	mount_fs
	run ln "$MNT/scenes/tag-a/b/y1.jpg" "$MNT/scenes/tag-b/"
	assert_failure
	assert_output --partial "Invalid argument"
	assert_equal "$(fs_try ln "$MNT/scenes/tag-a/b/y1.jpg" "$MNT/scenes/tag-b/y1.jpg")" EINVAL
	run grep -c "ln: y1.jpg is b/y1.jpg in dataset scenes: link it as tag-b/b/y1.jpg" "$FS_LOG"
	assert_output 2
	assert_equal "$(fs_list "$MNT/scenes/tag-b")" ""
}

@test "touch of a sample's name adds it; a name that is no sample gives ENOENT" {
	make_tag "$DS" tag-b 0x0 >/dev/null
	mount_fs
	run touch "$MNT/scenes/tag-b/top2.png"
	assert_success
	run touch "$MNT/scenes/tag-b/not-a-sample.png"
	assert_failure
	assert_output --partial "No such file or directory"
	run ls "$MNT/scenes/tag-b"
	assert_output "top2.png"
	assert_equal "$(fsync_path "$MNT/scenes/tag-b/top2.png")" OK
	assert_equal "$(mask_of tag-b)" 0x10
	# touching it again changes nothing and fails nothing
	run touch "$MNT/scenes/tag-b/top2.png"
	assert_success
}

@test "rm DS/B/x removes the sample from B only" {
	mount_fs
	run rm "$MNT/scenes/tag-a/top1.png"
	assert_success
	run mount_files "$MNT/scenes/tag-a"
	assert_output "$(printf 'a/x1.jpg\nb/y1.jpg')"
	[ -e "$MNT/scenes/initial-tag/top1.png" ]
	assert_equal "$(fsync_path "$MNT/scenes/tag-a")" OK
	assert_equal "$(mask_of tag-a)" 0x5
	assert_equal "$(mask_of initial-tag)" 0x3f
}

@test "a folder emptied by rm stays until rmdir, like on any filesystem" {
	mount_fs
	ls "$MNT/scenes/tag-a" >/dev/null
	rm "$MNT/scenes/tag-a/b/y1.jpg"
	run ls "$MNT/scenes/tag-a" "$MNT/scenes/tag-a/b"
	assert_output "$(printf '%s\na\nb\ntop1.png\n\n%s' "$MNT/scenes/tag-a:" "$MNT/scenes/tag-a/b:")"
	run rmdir "$MNT/scenes/tag-a/b"
	assert_success
	run ls "$MNT/scenes/tag-a"
	assert_output "$(printf 'a\ntop1.png')"
	assert_equal "$(fsync_path "$MNT/scenes/tag-a")" OK
	assert_equal "$(mask_of tag-a)" 0x9
}

@test "a folder that gains its first sample appears in the parent listing at once" {
	make_tag "$DS" tag-b 0x8 >/dev/null
	mount_fs
	run ls "$MNT/scenes/tag-b"
	assert_output "top1.png"
	mkdir "$MNT/scenes/tag-b/a"
	ln "$MNT/scenes/initial-tag/a/x1.jpg" "$MNT/scenes/tag-b/a/"
	run ls "$MNT/scenes/tag-b"
	assert_output "$(printf 'a\ntop1.png')"
}

@test "mv DS/A/x DS/B/ moves the sample from A to B" {
	make_tag "$DS" tag-b 0x0 >/dev/null
	mount_fs
	run mv "$MNT/scenes/tag-a/top1.png" "$MNT/scenes/tag-b/"
	assert_success
	run ls "$MNT/scenes/tag-b"
	assert_output "top1.png"
	[ ! -e "$MNT/scenes/tag-a/top1.png" ]
	assert_equal "$(fsync_path "$MNT/scenes")" OK
	assert_equal "$(mask_of tag-a)" 0x5
	assert_equal "$(mask_of tag-b)" 0x8
}

@test "rm -r DS/B empties the tag, then deletes it" {
	mount_fs
	run rm -r "$MNT/scenes/tag-a"
	assert_success
	assert_equal "$(tag_names)" "initial-tag"
	[ ! -e "$MNT/scenes/tag-a" ]
}

@test "writing bytes into a sample gives EPERM, and the sample keeps its image" {
	mount_fs
	local size sum
	size=$(stat -c %s "$MNT/scenes/tag-a/top1.png")
	sum=$(sha256sum <"$MNT/scenes/tag-a/top1.png")
	[ "$size" -gt 0 ]
	run bash -c "echo hello >'$MNT/scenes/tag-a/top1.png'"
	assert_failure
	assert_output --partial "Operation not permitted"
	run stat -c %s "$MNT/scenes/tag-a/top1.png"
	assert_output "$size"
	assert_equal "$(sha256sum <"$MNT/scenes/tag-a/top1.png")" "$sum"
	# the tag still holds it on the server
	run server_filenames "$DS" "$(tag_id "$DS" tag-a)"
	assert_output --partial "top1.png"
}

@test "a burst of 10,000 removals costs a handful of PUTs, and so does cp -l of 10,000" {
	local id
	id=$(python3 -c '
import json, sys, urllib.request
u = sys.argv[1]; tok = sys.argv[2]
req = lambda m, p, b=None: json.load(urllib.request.urlopen(urllib.request.Request(
    u + p + ("&" if "?" in p else "?") + "token=" + tok, method=m,
    data=json.dumps(b).encode() if b is not None else None,
    headers={"Content-Type": "application/json"})))
ds = req("POST", "/v1/datasets", {"name": "big-burst"})["id"]
names = ["f_%05d.png" % i for i in range(10000)]
urllib.request.urlopen(urllib.request.Request(u + "/_emulator/datasets/%s/samples" % ds,
    data=json.dumps({"fileNames": names}).encode(), method="POST"))
req("POST", "/v1/datasets/%s/tags/initial" % ds, {"imgType": "full"})
print(ds)' "$EMU_URL" "$TOKEN")
	mount_fs
	mkdir "$MNT/big-burst/copy"
	stats_reset
	(cd "$MNT/big-burst" && cp -l initial-tag/* copy/)
	assert_equal "$(fsync_path "$MNT/big-burst/copy")" OK
	[ "$(put_count)" -le 5 ]
	[ "$(put_count)" -ge 1 ]
	assert_equal "$(find "$MNT/big-burst/copy" -mindepth 1 -maxdepth 1 | wc -l)" 10000
	assert_equal "$(api GET "/v1/datasets/$id/tags" | py "print(next(bin(int(t['bitMaskData'],16)).count('1') for t in d if t['name']=='copy'))")" 10000
	stats_reset
	rm "$MNT/big-burst/copy/"*.png
	assert_equal "$(fsync_path "$MNT/big-burst/copy")" OK
	[ "$(put_count)" -le 5 ]
	assert_equal "$(api GET "/v1/datasets/$id/tags" | py "print(next(t['bitMaskData'] for t in d if t['name']=='copy'))")" 0x0
}

@test "edits reach the server after a quiet period without any sync" {
	mount_fs -o flush_delay_ms=200
	rm "$MNT/scenes/tag-a/top1.png"
	for _ in $(seq 1 50); do
		[ "$(mask_of tag-a)" = 0x5 ] && break
		sleep 0.1
	done
	assert_equal "$(mask_of tag-a)" 0x5
}

@test "fsync sends pending edits at once" {
	mount_fs -o flush_delay_ms=60000
	rm "$MNT/scenes/tag-a/top1.png"
	assert_equal "$(mask_of tag-a)" 0xd
	assert_equal "$(fsync_path "$MNT/scenes/tag-a/a")" OK
	assert_equal "$(mask_of tag-a)" 0x5
}

@test "sync of a path in the tag sends pending edits" {
	mount_fs -o flush_delay_ms=60000
	rm "$MNT/scenes/tag-a/top1.png"
	assert_equal "$(mask_of tag-a)" 0xd
	sync "$MNT/scenes/tag-a"
	assert_equal "$(mask_of tag-a)" 0x5
}

@test "every edit is on the server once the daemon has exited after fusermount3 -u" {
	mount_fs -o flush_delay_ms=60000
	rm "$MNT/scenes/tag-a/top1.png"
	touch "$MNT/scenes/tag-a/top2.png"
	fusermount3 -u "$MNT"
	wait "$FS_PID"
	assert_equal "$(mask_of tag-a)" 0x15
}

@test "every edit is on the server once the daemon has exited after SIGTERM" {
	mount_fs -o flush_delay_ms=60000
	rm "$MNT/scenes/tag-a/top1.png"
	kill -TERM "$FS_PID"
	wait "$FS_PID"
	assert_equal "$(mask_of tag-a)" 0x5
	run mountpoint -q "$MNT"
	assert_failure
}

@test "-o sync_edits sends each edit before the call returns" {
	mount_fs -o sync_edits
	stats_reset
	rm "$MNT/scenes/tag-a/top1.png"
	assert_equal "$(mask_of tag-a)" 0x5
	rm "$MNT/scenes/tag-a/a/x1.jpg"
	assert_equal "$(mask_of tag-a)" 0x4
	assert_equal "$(put_count)" 2
}

@test "a flush that fails for a passing reason is retried until it lands" {
	mount_fs -o flush_delay_ms=100
	fault '{"match": "PUT /v1/datasets/{datasetId}/tags/{tagId}", "status": 503, "count": 2}'
	rm "$MNT/scenes/tag-a/top1.png"
	for _ in $(seq 1 60); do
		[ "$(mask_of tag-a)" = 0x5 ] && break
		sleep 0.1
	done
	assert_equal "$(mask_of tag-a)" 0x5
	[ ! -e "$MNT/scenes/tag-a/top1.png" ]
}

@test "a flush the server refuses is rolled back, logged, and reported by the next fsync as EIO" {
	mount_fs -o flush_delay_ms=100
	fault '{"match": "PUT /v1/datasets/{datasetId}/tags/{tagId}", "status": 400}'
	rm "$MNT/scenes/tag-a/top1.png"
	for _ in $(seq 1 50); do
		[ -e "$MNT/scenes/tag-a/top1.png" ] && break
		sleep 0.1
	done
	[ -e "$MNT/scenes/tag-a/top1.png" ]
	grep -q "refused its edits" "$FS_LOG"
	assert_equal "$(fsync_path "$MNT/scenes/tag-a")" EIO
	# reported once
	assert_equal "$(fsync_path "$MNT/scenes/tag-a")" OK
	assert_equal "$(mask_of tag-a)" 0xd
}

@test "a tag deleted behind the mount's back: the edit is refused, fsync says EIO, the tag vanishes" {
	mount_fs -o flush_delay_ms=60000
	ls "$MNT/scenes/tag-a" >/dev/null
	rm "$MNT/scenes/tag-a/top1.png"
	[ "$(api_status DELETE "/v1/datasets/$DS/tags/$(tag_id "$DS" tag-a)")" -lt 300 ]
	assert_equal "$(fsync_path "$MNT/scenes")" EIO
	run ls "$MNT/scenes"
	assert_output "initial-tag"
}

@test "deleting a tag with pending edits drops them" {
	make_tag "$DS" tag-b 0x10 >/dev/null
	mount_fs -o flush_delay_ms=60000
	stats_reset
	rm -r "$MNT/scenes/tag-b"
	assert_equal "$(tag_names)" "initial-tag tag-a"
	assert_equal "$(put_count)" 0
	assert_equal "$(fsync_path "$MNT/scenes")" OK
	assert_equal "$(put_count)" 0
}

@test "concurrent edits to one tag from many processes end with their union" {
	make_tag "$DS" tag-b 0x0 >/dev/null
	mount_fs -o flush_delay_ms=50
	local f pids=()
	for f in a/x1.jpg a/x2.jpg b/y1.jpg top1.png top2.png top3.png; do
		(mkdir -p "$MNT/scenes/tag-b/$(dirname "$f")" 2>/dev/null
		 ln "$MNT/scenes/initial-tag/$f" "$MNT/scenes/tag-b/$f") &
		pids+=($!)
	done
	wait "${pids[@]}"
	assert_equal "$(fsync_path "$MNT/scenes/tag-b")" OK
	assert_equal "$(mask_of tag-b)" 0x3f
}

@test "a change in the mount shows in the parent listing at once" {
	make_tag "$DS" tag-b 0x0 >/dev/null
	mount_fs
	run ls "$MNT/scenes/tag-b"
	assert_output ""
	mkdir "$MNT/scenes/tag-b/a"
	ln "$MNT/scenes/initial-tag/a/x2.jpg" "$MNT/scenes/tag-b/a/"
	run ls "$MNT/scenes/tag-b" "$MNT/scenes/tag-b/a"
	assert_output --partial "x2.jpg"
	run ls "$MNT/scenes/.lightly/tags"
	assert_output --partial "tag-b.json"
	mv "$MNT/scenes/tag-b" "$MNT/scenes/tag-z"
	run ls "$MNT/scenes/.lightly/tags"
	assert_output --partial "tag-z.json"
	refute_output --partial "tag-b.json"
}
