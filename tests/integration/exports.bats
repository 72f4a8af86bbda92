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

# requests of every export route since the last stats_reset, but the pages
# of read URLs a walk asks for its files' bytes (content.bats tests those)
export_requests() {
	curl -sS "$EMU_URL/_emulator/stats" |
		py "print(sum(v for k, v in d['routes'].items() if '/export' in k and not k.endswith('/filenamesAndReadUrls')))"
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
	[ "$(stat -c %s "$MNT/scenes/.lightly/exports/walk-3.zip")" -gt 22 ]
	[ "$(export_requests)" -ge 1 ]
}

normalize() { sed -E 's/publicToken=[^&"]*//g'; }
# the server's export of tag-a: route [query], every page at once
export_api() { api GET "/v1/datasets/$DS/tags/$(tag_id "$DS" tag-a)/export/$1"; }

@test "each export kind is a file whose bytes are what the API returns, for cat, cp and json.load" {
	mount_fs
	local x="$MNT/scenes/.lightly/exports" out="$BATS_TEST_TMPDIR/out" f route
	mkdir -p "$out"
	for f in labelstudio.json:LabelStudio/tasks labelbox.json:LabelBox/datarows \
		labelboxv4.json:LabelBoxV4/datarows sama.json:Sama/tasks; do
		route=${f#*:} f=tag-a.${f%%:*}
		# compact JSON, as the server sends it: the bytes, tokens aside
		assert_equal "$(normalize <"$x/$f")" "$(export_api "$route" | normalize)"
		[ "$(stat -c %s "$x/$f")" = "$(wc -c <"$x/$f")" ]
		cp "$x/$f" "$out/$f"
		cmp "$out/$f" "$x/$f" # the same document for the TTL
		python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 3' "$out/$f"
	done
	python3 - "$x" <<'PY'
import json, sys
v4 = json.load(open(sys.argv[1] + "/tag-a.labelboxv4.json"))
assert [r["global_key"] for r in v4] == ["a/x1.jpg", "b/y1.jpg", "top1.png"], v4
sama = json.load(open(sys.argv[1] + "/tag-a.sama.json"))
assert [t["data"]["lightlyFileName"] for t in sama] == ["a/x1.jpg", "b/y1.jpg", "top1.png"]
PY
	run cat "$x/tag-a.filenames.txt"
	assert_output "$(printf 'a/x1.jpg\nb/y1.jpg\ntop1.png')"
	assert_equal "$(wc -l <"$x/tag-a.filenames.txt")" 3
	assert_equal "$(cat "$x/tag-a.datasource-urls.txt")" \
		"$(export_api 'basic/filenames?fileNameFormat=DATASOURCE_FULL')"
	assert_equal "$(normalize <"$x/tag-a.readurls.txt")" \
		"$(export_api 'basic/filenames?fileNameFormat=REDIRECTED_READ_URL' | normalize)"
	# a read URL opens without the token: the image of the sample it names
	curl -sSf -L -o "$out/img" "$(sed -n 3p "$x/tag-a.readurls.txt")"
	cmp "$out/img" "$MNT/scenes/tag-a/top1.png"
	run ls -A "$x"
	assert_output ""
	run cat "$x/no-such-tag.sama.json"
	assert_failure
	assert_output --partial "No such file"
}

@test "the new exports carry -o export_expires, and an empty tag's export is an empty file or []" {
	make_tag "$DS" none 0x0 >/dev/null
	mount_fs -o export_expires=600,access_control=team-a
	local x="$MNT/scenes/.lightly/exports" sama="GET /v1/datasets/{datasetId}/tags/{tagId}/export/Sama/tasks"
	stats_reset
	grep -q 'publicToken=[1-9]' "$x/tag-a.sama.json"   # an expiry, not 0 (never)
	assert_equal "$(stat_count "$sama")" 1
	grep -q 'publicToken=[1-9]' "$x/tag-a.readurls.txt"
	run cat "$x/none.filenames.txt"
	assert_success
	assert_output ""
	assert_equal "$(stat -c %s "$x/none.filenames.txt")" 0
	assert_equal "$(cat "$x/none.labelboxv4.json")" "[]"
}

@test "a tag of more than a page: the export files join the pages, in order, with nothing twice" {
	emu_stop
	emu_start --dataset big:5003
	mount_fs
	local x="$MNT/big/.lightly/exports" tag route
	tag=$(api GET "/v1/datasets/$(dataset_id big)/tags" | py "print(d[0]['name'])")
	stats_reset
	assert_equal "$(wc -l <"$x/$tag.filenames.txt")" 5003
	assert_equal "$(sort -u "$x/$tag.filenames.txt" | wc -l)" 5003
	assert_equal "$(cat "$x/$tag.filenames.txt")" \
		"$(api GET "/v1/datasets/$(dataset_id big)/mappings?field=fileName" | py "print('\n'.join(d))")"
	route="GET /v1/datasets/{datasetId}/tags/{tagId}/export/basic/filenames"
	assert_equal "$(stat_count "$route")" 2
	python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 5003' "$x/$tag.labelboxv4.json"
}

# the daemon's open files that are unlinked zips of the cache dir
held_zips() { find "/proc/$FS_PID/fd" -lname "$BATS_TEST_TMPDIR/cache/*(deleted)" 2>/dev/null | wc -l; }

@test "<tag>.zip: cp and unzip -t work, its members are the tag's files with their bytes, and it is let go at the last close" {
	make_tag "$DS" none 0x0 >/dev/null
	mount_fs
	local x="$MNT/scenes/.lightly/exports" out="$BATS_TEST_TMPDIR/out" name
	mkdir -p "$out"
	cp "$x/tag-a.zip" "$out/a.zip"
	run unzip -t "$out/a.zip"
	assert_success
	assert_output --partial "No errors detected"
	# unzip on the mount itself: it seeks to the end for the directory
	unzip -tq "$x/tag-a.zip"
	[ "$(stat -c %s "$x/tag-a.zip")" = "$(wc -c <"$out/a.zip")" ]
	# the members are the API's file names of the tag, in its order, and
	# the tag directory's files
	assert_equal "$(unzip -Z1 "$out/a.zip")" \
		"$(api GET "/v1/datasets/$DS/tags/$(tag_id "$DS" tag-a)/filenames" | py "print('\n'.join(d))")"
	assert_equal "$(unzip -Z1 "$out/a.zip" | LC_ALL=C sort)" "$(mount_files "$MNT/scenes/tag-a")"
	for name in $(unzip -Z1 "$out/a.zip"); do
		unzip -p "$out/a.zip" "$name" | cmp - "$MNT/scenes/tag-a/$name"
	done
	# an empty tag: an empty zip, valid
	run unzip -t "$x/none.zip"
	assert_output --partial "zipfile is empty"
	python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.namelist() == [] and z.testzip() is None' "$x/none.zip"
	run ls -A "$x"
	assert_output ""
	run cat "$x/no-such-tag.zip"
	assert_failure
	assert_output --partial "No such file"
	# held while open, and the disk given back at the last close
	local fd
	exec {fd}<"$x/tag-a.zip"
	[ "$(held_zips)" -ge 1 ]
	exec {fd}<&-
	for _ in $(seq 1 50); do [ "$(held_zips)" = 0 ] && break; sleep 0.1; done
	assert_equal "$(held_zips)" 0
}

@test "<tag>.zip bigger than -o max_response_mb is streamed to disk, not refused" {
	emu_stop
	emu_start --blob-sizes varied --dataset big:12
	local tag x
	tag=$(api GET "/v1/datasets/$(dataset_id big)/tags" | py "print(d[0]['name'])")
	mount_fs -o max_response_mb=1
	x="$MNT/big/.lightly/exports/$tag.zip"
	cp "$x" "$BATS_TEST_TMPDIR/big.zip"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/big.zip")" -gt $((2 * 1024 * 1024)) ]
	unzip -tq "$BATS_TEST_TMPDIR/big.zip"
	assert_equal "$(unzip -Z1 "$BATS_TEST_TMPDIR/big.zip" | wc -l)" 12
	unzip -p "$BATS_TEST_TMPDIR/big.zip" sample_0000011.jpg | cmp - "$MNT/big/$tag/sample_0000011.jpg"
}

@test "-o access_control and -o export_expires reach the server on every export kind (the emulator's request log)" {
	emu_stop
	emu_start --verbose
	DS=$(make_dataset scenes a/x1.jpg top1.png)
	make_tag "$DS" tag-a 0x3 >/dev/null
	mount_fs -o export_expires=600,access_control=team-a
	local x="$MNT/scenes/.lightly/exports" f route
	for f in labelstudio.json labelbox.json labelboxv4.json sama.json filenames.txt readurls.txt datasource-urls.txt; do
		cat "$x/tag-a.$f" >/dev/null
	done
	for route in LabelStudio/tasks LabelBox/datarows LabelBoxV4/datarows Sama/tasks \
		"basic/filenames?fileNameFormat=NAME" "basic/filenames?fileNameFormat=REDIRECTED_READ_URL" \
		"basic/filenames?fileNameFormat=DATASOURCE_FULL"; do
		run grep -F "/export/$route" "$EMU_DIR/err"
		assert_success
		assert_output --partial "expiresIn=600"
		assert_output --partial "accessControl=team-a"
	done
}
