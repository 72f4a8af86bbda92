#!/usr/bin/env bats
# Shell tools that copy metadata (cp -a, cp -p, rsync -a, install, mv),
# rsync's temporary files, ln -s, and the small corners of issue 12:
# --help and the tags/<name>.json of the longest tag names.

load helpers

setup() {
	emu_start
	DS=$(make_dataset scenes a/x1.jpg a/x2.jpg x.png y.png z.png)
	# tag-a = every sample
	make_tag "$DS" tag-a 0x1f >/dev/null
	make_tag "$DS" tag-b 0x0 >/dev/null
}

teardown() {
	unmount_fs
	emu_stop
}

sync_tag() { python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$1"; }
# names of tag-b on the server, one line, sorted
server_b() { server_filenames "$DS" "$(tag_id "$DS" tag-b)" | tr '\n' ' ' | sed 's/ $//'; }

@test "cp -a, cp -p and install -m 644 into a tag add the sample and exit 0" {
	mount_fs
	cd "$MNT/scenes"
	run cp -a tag-a/x.png tag-b/
	assert_success
	assert_output ""
	run cp -p tag-a/y.png tag-b/
	assert_success
	assert_output ""
	run install -m 644 tag-a/z.png tag-b/
	assert_success
	assert_output ""
	run cp -a tag-a/a tag-b/
	assert_success
	assert_output ""
	sync_tag tag-b
	assert_equal "$(server_b)" "a/x1.jpg a/x2.jpg x.png y.png z.png"
	run stat -c '%a %U' tag-b/x.png
	assert_output "444 $(id -un)"
}

@test "rsync -a --inplace into a tag adds every sample; mv from a tag moves them" {
	mount_fs
	cd "$MNT/scenes"
	run rsync -a --inplace tag-a/a tag-a/x.png tag-b/
	assert_success
	assert_output ""
	run mv tag-a/z.png tag-b/
	assert_success
	assert_output ""
	sync_tag tag-b
	sync_tag tag-a
	assert_equal "$(server_b)" "a/x1.jpg a/x2.jpg x.png z.png"
	run server_filenames "$DS" "$(tag_id "$DS" tag-a)"
	refute_line z.png
}

@test "plain rsync into a tag fails on its temporary file, says --inplace, and changes nothing" {
	mount_fs
	cd "$MNT/scenes"
	run rsync -a tag-a/x.png tag-a/y.png tag-b/
	assert_failure 23
	assert_output --partial "mkstemp"
	assert_output --partial "Operation not permitted"
	grep -q "rsync into a tag needs --inplace" "$FS_LOG"
	assert_equal "$(fs_list tag-b)" ""
	sync_tag tag-b
	assert_equal "$(server_b)" ""
}

@test "a setattr that would change mode, owner or times gives EPERM" {
	mount_fs
	cd "$MNT/scenes"
	ln tag-a/x.png tag-b/x.png
	run chmod 0755 tag-b/x.png
	assert_failure
	assert_output --partial "Operation not permitted"
	run chmod 0400 tag-b/x.png
	assert_success # owner still reads; the file stays 0444
	run stat -c %a tag-b/x.png
	assert_output 444
	run chmod 0700 tag-b
	assert_failure
	run touch -d 2001-01-01 tag-b/x.png
	assert_failure
	assert_output --partial "Operation not permitted"
	run touch tag-b/x.png # now: accepted, nothing changes
	assert_success
	run chown "$(id -u):$(id -g)" tag-b/x.png
	assert_success
	if [ "$(id -u)" -eq 0 ]; then
		run chown 12345 tag-b/x.png
		assert_failure
	fi
	run install tag-a/y.png tag-b/ # install's default 0755 adds x bits
	assert_failure
	assert_output --partial "Operation not permitted"
}

@test "cp -p of an empty local file adds the sample; its 0644 is taken, its times are not" {
	mount_fs
	local f="$BATS_TEST_TMPDIR/x.png"
	: >"$f"
	chmod 0644 "$f"
	run cp --preserve=mode,ownership "$f" "$MNT/scenes/tag-b/"
	assert_success
	assert_output ""
	run cp -p "$f" "$MNT/scenes/tag-b/"
	assert_failure
	assert_output --partial "preserving times"
	sync_tag "$MNT/scenes/tag-b"
	assert_equal "$(server_b)" "x.png"
}

@test "ln -s gives EPERM and the log says to use ln" {
	mount_fs
	run ln -s ../tag-a/x.png "$MNT/scenes/tag-b/x.png"
	assert_failure
	assert_output --partial "Operation not permitted"
	grep -q "symlink x.png refused.*use a hard link (ln, without -s)" "$FS_LOG"
	assert_equal "$(fs_list "$MNT/scenes/tag-b")" ""
}

@test "--help lists -h and -V once each" {
	run "$LIGHTLYFS_BIN" --help
	assert_success
	assert_equal "$(grep -c -- '-h, --help' <<<"$output")" 1
	assert_equal "$(grep -cE -- '^ *-h +--help' <<<"$output")" 0
	assert_equal "$(grep -cE -- '^ *-V +--version' <<<"$output")" 0
	assert_output --partial "-o auto_unmount"
}

@test "every valid tag name has a tags/ file: <name>.json, or for 251-255 bytes a hashed one" {
	local n250 n251 n255 f
	n250=$(printf 'L%.0s' $(seq 250))
	n251=$(printf 'M%.0s' $(seq 251))
	n255=$(printf 'N%.0s' $(seq 254))x
	make_tag "$DS" "$n250" 0x1 >/dev/null
	make_tag "$DS" "$n251" 0x2 >/dev/null
	make_tag "$DS" "$n255" 0x4 >/dev/null
	mount_fs
	cd "$MNT/scenes/.lightly/tags"
	[ -f "$n250.json" ]
	run py "print(d['name'] == '$n250')" <"$n250.json"
	assert_output True
	for n in "$n251" "$n255"; do
		f=$(python3 -c '
import sys
n = sys.argv[1].encode()
h = 0xcbf29ce484222325
for b in n:
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
print(n[:233].decode() + "~%016x.json" % h)' "$n")
		assert_equal "${#f}" 255
		fs_list . | tr " " "\n" | grep -qxF "$f"
		run py "print(d['name'] == '$n')" <"$f"
		assert_output True
	done
	assert_equal "$(fs_list . | wc -w)" 6
}
