#!/usr/bin/env bats
# Deleted tags can be restored: DS/.lightly/trash/NAME lists a tag deleted
# through the mount, read-only, and mv puts it back on the server.

# Each @test runs in a subshell of its own, and MNT, FS_PID and friends
# are set by helpers.bash, which shellcheck does not follow.
# shellcheck disable=SC2030,SC2031,SC2153

load helpers

setup() {
	emu_start
	DS=$(make_dataset scenes a/x1.jpg a/x2.jpg b/y1.jpg top1.png top2.png top3.png)
	make_tag "$DS" tag-a 0xd >/dev/null # {a/x1.jpg, b/y1.jpg, top1.png}
	make_tag "$DS" parent-tag 0x3 >/dev/null
	make_tag "$DS" child 0x2 parent-tag >/dev/null
}

teardown() {
	unmount_fs
	emu_stop
	[ -z "${SHM_STATE:-}" ] || rm -rf "$SHM_STATE"
}

tag_json() {
	api GET "/v1/datasets/$DS/tags" | py "print(json.dumps(next((t for t in d if t['name']=='$1'), None)))"
}
tag_names() {
	api GET "/v1/datasets/$DS/tags" | py "print(' '.join(sorted(t['name'] for t in d)))"
}

@test "rm -r of a tag keeps it in .lightly/trash, read-only, with the samples it had" {
	mount_fs -o flush_delay_ms=100
	rm -r "$MNT/scenes/tag-a"
	assert_equal "$(tag_names)" "child initial-tag parent-tag"
	run ls "$MNT/scenes/.lightly/trash"
	assert_output "$(printf 'tag-a\ntag-a.json')"
	run mount_files "$MNT/scenes/.lightly/trash/tag-a"
	assert_output "$(printf 'a/x1.jpg\nb/y1.jpg\ntop1.png')"
	py "assert d['name'] == 'tag-a' and d['samples'] == 3 and d['deletedAt'] > 0, d" \
		<"$MNT/scenes/.lightly/trash/tag-a.json"
	[ "$(stat -c %s "$MNT/scenes/.lightly/trash/tag-a.json")" = \
		"$(wc -c <"$MNT/scenes/.lightly/trash/tag-a.json")" ]
	run ln "$MNT/scenes/initial-tag/top2.png" "$MNT/scenes/.lightly/trash/tag-a/"
	assert_failure
	run rm "$MNT/scenes/.lightly/trash/tag-a/top1.png"
	assert_failure
	assert_output --partial "Operation not permitted"
	# the deleted tag is not listed as a tag
	run ls "$MNT/scenes"
	assert_output "$(printf 'child\ninitial-tag\nparent-tag')"
}

@test "mv out of the trash makes the tag again with its samples and parent" {
	local parent
	parent=$(tag_id "$DS" child)
	# tag-a's parent is the initial tag; a child of child shows the parent
	make_tag "$DS" grandchild 0x2 child >/dev/null
	mount_fs -o flush_delay_ms=100
	rm -r "$MNT/scenes/grandchild"
	mv "$MNT/scenes/.lightly/trash/grandchild" "$MNT/scenes/grandchild"
	tag_json grandchild | py "
assert d['bitMaskData'] == '0x2', d
assert d['prevTagId'] == '$parent', d"
	run ls "$MNT/scenes/.lightly/trash"
	assert_output ""
	run mount_files "$MNT/scenes/grandchild"
	assert_output "a/x2.jpg"
}

@test "the trash outlives the mount, and a restore works after a remount" {
	mount_fs -o flush_delay_ms=100
	rm -r "$MNT/scenes/tag-a"
	unmount_fs
	mount_fs
	run ls "$MNT/scenes/.lightly/trash"
	assert_output "$(printf 'tag-a\ntag-a.json')"
	mv "$MNT/scenes/.lightly/trash/tag-a" "$MNT/scenes/tag-back"
	tag_json tag-back | py "assert d['bitMaskData'] == '0xd', d"
}

@test "a name deleted twice: after a remount the trash still holds the newer deletion" {
	# on tmpfs readdir lists the newest file first, so a load that lets the
	# last file read win brings back the older deletion
	SHM_STATE=$(mktemp -d /dev/shm/lfs-trash.XXXXXX)
	mount_fs -o flush_delay_ms=100,cache_ttl=0.5,state_dir="$SHM_STATE"
	rm -r "$MNT/scenes/tag-a" # {a/x1.jpg, b/y1.jpg, top1.png}
	make_tag "$DS" tag-a 0x20 >/dev/null # {top3.png}
	sleep 1
	rm -r "$MNT/scenes/tag-a"
	run mount_files "$MNT/scenes/.lightly/trash/tag-a"
	assert_output "top3.png"
	unmount_fs
	mount_fs -o state_dir="$SHM_STATE"
	run mount_files "$MNT/scenes/.lightly/trash/tag-a"
	assert_output "top3.png"
	mv "$MNT/scenes/.lightly/trash/tag-a" "$MNT/scenes/tag-a"
	tag_json tag-a | py "assert d['bitMaskData'] == '0x20', d"
}

@test "a refused delete leaves nothing in the trash; an entry older than trash_days is dropped" {
	mount_fs -o flush_delay_ms=100
	run rm -r "$MNT/scenes/parent-tag"
	assert_failure
	run ls "$MNT/scenes/.lightly/trash"
	assert_output ""
	rmdir "$MNT/scenes/child" 2>/dev/null || rm -r "$MNT/scenes/child"
	run ls "$MNT/scenes/.lightly/trash"
	assert_output "$(printf 'child\nchild.json')"
	unmount_fs
	mount_fs -o trash_days=0
	run ls "$MNT/scenes/.lightly/trash"
	assert_output ""
}

@test "rm -r shows the tag in a trash listing the kernel had cached" {
	mount_fs -o flush_delay_ms=100
	# a listing of the trash, and its attributes fresh from readdirplus:
	# the kernel would keep both for the TTL
	assert_equal "$(fs_list "$MNT/scenes/.lightly/trash")" ""
	ls -l "$MNT/scenes/.lightly" >/dev/null
	rm -r "$MNT/scenes/tag-a"
	assert_equal "$(fs_list "$MNT/scenes/.lightly/trash")" "tag-a tag-a.json"
	# a refused delete takes its entry out again, at once too
	run rm -r "$MNT/scenes/parent-tag"
	assert_failure
	assert_equal "$(fs_list "$MNT/scenes/.lightly/trash")" "tag-a tag-a.json"
	mv "$MNT/scenes/.lightly/trash/tag-a" "$MNT/scenes/tag-a"
	assert_equal "$(fs_list "$MNT/scenes/.lightly/trash")" ""
}
