#!/usr/bin/env bats
# File managers: GIO (the library under Nautilus and Thunar) on the mount
# does what the shell tools do, checked on the server through the
# emulator's API; the probes file managers make cost no request.

load helpers

setup() {
	command -v gio >/dev/null || skip "gio (libglib2.0-bin) is not installed"
	emu_start
	DS=$(make_dataset scenes a/x1.jpg x.png y.png .dot.png)
	make_tag "$DS" tag-a 0xf >/dev/null # every sample
	make_tag "$DS" tag-b 0x0 >/dev/null
}

teardown() {
	unmount_fs
	emu_stop
}

sync_tag() { python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$1"; }
server_tag() { # tag name -> its files on the server, one line
	server_filenames "$DS" "$(tag_id "$DS" "$1")" | tr '\n' ' ' | sed 's/ $//'
}
tag_names() {
	api GET "/v1/datasets/$DS/tags" | py "print(' '.join(sorted(t['name'] for t in d)))"
}

@test "gio list and gio info show what ls and stat show" {
	mount_fs
	run gio list "$MNT/scenes"
	assert_success
	assert_output "$(ls "$MNT/scenes")"
	run gio list -h "$MNT/scenes/tag-a"
	assert_equal "$(sort <<<"$output" | tr "\n" " ")" "$(fs_list "$MNT/scenes/tag-a") "
	run gio info -a standard::type,standard::size,unix::mode "$MNT/scenes/tag-a/x.png"
	assert_success
	assert_line "  standard::type: 1"
	assert_line "  standard::size: $(stat -c %s "$MNT/scenes/tag-a/x.png")"
	assert_line "  unix::mode: $(printf '%d' 0100444)"
	run gio info -a standard::type "$MNT/scenes/tag-a"
	assert_line "  standard::type: 2"
}

@test "gio copy and gio move add and move samples; gio remove takes one out" {
	mount_fs
	cd "$MNT/scenes"
	run gio copy tag-a/x.png tag-b/
	assert_success
	run gio move tag-a/y.png tag-b/
	assert_success
	run gio remove tag-b/x.png
	assert_success
	sync_tag tag-a
	sync_tag tag-b
	assert_equal "$(server_tag tag-b)" "y.png"
	assert_equal "$(server_tag tag-a)" ".dot.png a/x1.jpg x.png"
	assert_equal "$(fs_list tag-b)" "y.png"
	run gio copy tag-a/no-such.png tag-b/
	assert_failure
}

@test "gio mkdir makes a tag and gio rename renames it, on the server" {
	mount_fs
	run gio mkdir "$MNT/scenes/new-tag"
	assert_success
	assert_equal "$(tag_names)" "initial-tag new-tag tag-a tag-b"
	run gio rename "$MNT/scenes/new-tag" renamed-tag
	assert_success
	assert_equal "$(tag_names)" "initial-tag renamed-tag tag-a tag-b"
	assert_equal "$(fs_list "$MNT/scenes")" ".lightly initial-tag renamed-tag tag-a tag-b"
	run gio rename "$MNT/scenes/tag-a/x.png" z.png # a sample's name is the dataset's
	assert_failure
}

@test "gio trash of a tag or a sample fails cleanly and leaves the tag as it was" {
	mount_fs
	run gio trash "$MNT/scenes/tag-a"
	assert_failure
	assert_output --partial "trash"
	run gio trash "$MNT/scenes/tag-a/x.png"
	assert_failure
	assert_equal "$(tag_names)" "initial-tag tag-a tag-b"
	sync_tag "$MNT/scenes/tag-a"
	assert_equal "$(server_tag tag-a)" ".dot.png a/x1.jpg x.png y.png"
	assert_equal "$(fs_list "$MNT")" ".lightly scenes"
}

probes=(.hidden .directory .Trash .Trash-"$(id -u)" autorun.inf
	.xdg-volume-info .DS_Store .sh_thumbnails .thumbnails)
probe_all() { # stat every probe name in every directory given
	local d p
	for d in "$@"; do
		for p in "${probes[@]}"; do
			[ ! -e "$d/$p" ] || fail "$d/$p exists"
		done
	done
}
gio_walk() {
	local d
	while read -r d; do
		gio list -a '*' -h "$d" >/dev/null
		gio info -a '*' "$d" >/dev/null
	done < <(find "$MNT" -type d -not -path '*/.lightly*')
}

@test "a warm gio list -a walk costs no request" {
	mount_fs
	gio_walk
	stats_reset
	gio_walk
	probe_all "$MNT" "$MNT/scenes" "$MNT/scenes/tag-a" "$MNT/scenes/tag-a/a"
	assert_equal "$(stat_total)" 0
}

@test "file-manager probes cost no request after the TTL, in the root, a dataset and a known tag" {
	mount_fs -o cache_ttl=1
	gio_walk
	sleep 1.3 # the kernel's negative entries and the daemon's data expire
	# the kernel revalidates the directories on the way (that is the TTL)
	stat "$MNT/scenes/tag-a/a" >/dev/null
	stats_reset
	probe_all "$MNT" "$MNT/scenes" "$MNT/scenes/tag-a" "$MNT/scenes/tag-a/a"
	assert_equal "$(stat_total)" 0
	# a sample may start with '.': it is still found
	[ -f "$MNT/scenes/tag-a/.dot.png" ]
	[ -d "$MNT/scenes/.lightly" ]
}

@test "a file manager's thumbnailer makes each sample's thumbnail from the mount's bytes (the view docs/file-manager-tag.png shows)" {
	mount_fs
	local f out="$BATS_TEST_TMPDIR/thumb.png"
	for f in x.png a/x1.jpg; do
		rm -f "$out"
		# what GNOME's and libfm's thumbnailers run for an image
		gdk-pixbuf-thumbnailer -s 128 "$MNT/scenes/tag-a/$f" "$out"
		run file -b "$out"
		assert_output --regexp "^PNG image data, [0-9]+ x [0-9]+"
		[ "$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); w,h=struct.unpack(">II",d[16:24]); print(max(w,h))' "$out")" -le 128 ]
	done
}
