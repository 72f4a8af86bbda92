#!/usr/bin/env bats
# DS/.lightly/exports/: every export kind of the Tags API as a file, resolved
# by name; walking a dataset (du, find, ls -lR, tar, rsync -a) fetches none.

# Each @test runs in a subshell of its own, and MNT, FS_PID and friends
# are set by helpers.bash, which shellcheck does not follow.
# shellcheck disable=SC2030,SC2031,SC2153

load helpers

setup() {
	emu_start
	DS=$(make_dataset scenes a/x1.jpg a/x2.jpg b/y1.jpg top1.png top2.png top3.png)
	make_tag "$DS" tag-a 0xd >/dev/null # {0, 2, 3}
}

teardown() {
	unmount_fs
	emu_stop
}

# requests of every export route since the last stats_reset
export_requests() {
	curl -sS "$EMU_URL/_emulator/stats" |
		py "print(sum(v for k, v in d['routes'].items() if '/export' in k))"
}

@test "du, find, ls -lR, tar and rsync -a over a dataset of 20 tags make no export request and store no export" {
	local i out="$BATS_TEST_TMPDIR/out"
	for i in $(seq 1 19); do
		make_tag "$DS" "walk-$i" "0x$(printf %x $((i % 63 + 1)))" >/dev/null
	done
	mount_fs
	run ls "$MNT/scenes"
	assert_line walk-19
	stats_reset
	du -sh "$MNT/scenes" >/dev/null
	find "$MNT/scenes" >"$BATS_TEST_TMPDIR/find"
	ls -lR "$MNT/scenes" >/dev/null
	tar -cf "$BATS_TEST_TMPDIR/ds.tar" -C "$MNT" scenes
	mkdir -p "$out"
	rsync -a "$MNT/scenes" "$out/"
	assert_equal "$(export_requests)" 0
	# the walks saw the directory, and no document in it, so none stored one
	grep -q '/.lightly/exports$' "$BATS_TEST_TMPDIR/find"
	run grep -c '/.lightly/exports/' "$BATS_TEST_TMPDIR/find"
	assert_output 0
	run tar -tf "$BATS_TEST_TMPDIR/ds.tar"
	assert_line scenes/.lightly/exports/
	refute_line --partial 'scenes/.lightly/exports/tag'
	[ -d "$out/scenes/.lightly/exports" ]
	assert_equal "$(find "$out/scenes/.lightly/exports" -type f | wc -l)" 0
	[ -s "$out/scenes/tag-a/top1.png" ]
	# by name it is there, fetched then (so the count above could fail)
	[ "$(stat -c %s "$MNT/scenes/.lightly/exports/walk-3.labelbox.json")" -gt 2 ]
	[ "$(export_requests)" -ge 1 ]
}
