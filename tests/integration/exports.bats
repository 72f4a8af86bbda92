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
