#!/usr/bin/env bats
# Every Tags API endpoint from the shell: tag arithmetic as paths
# (DS/A+B, DS/'A&B', DS/A~B), exports as files, upsize as a control file.
# Each result is compared with the emulator's own answer through the API.

# Each @test runs in a subshell of its own, and MNT, FS_PID and friends
# are set by helpers.bash, which shellcheck does not follow.
# shellcheck disable=SC2030,SC2031,SC2153

load helpers

setup() {
	emu_start
	DS=$(make_dataset scenes a/x1.jpg a/x2.jpg b/y1.jpg top1.png top2.png top3.png)
	make_tag "$DS" tag-a 0xd >/dev/null    # {0, 2, 3}
	make_tag "$DS" tag-b 0x12 >/dev/null   # {1, 4}: disjoint from A
	make_tag "$DS" inside 0x9 >/dev/null   # {0, 3}: nested in A
	make_tag "$DS" overlap 0x38 >/dev/null # {3, 4, 5}: meets A at 3
	make_tag "$DS" empty 0x0 >/dev/null
}

teardown() {
	unmount_fs
	emu_stop
}

tag_json() {
	api GET "/v1/datasets/$DS/tags" | py "print(json.dumps(next((t for t in d if t['name']=='$1'), None)))"
}
# the server's result for OP of tags A and B, as the sorted names it holds
server_result() { # a op b
	local body
	body=$(printf '{"tagId1": "%s", "tagId2": "%s", "operation": "%s"}' \
		"$(tag_id "$DS" "$1")" "$(tag_id "$DS" "$3")" "$2")
	api POST "/v1/datasets/$DS/tags/arithmetics/bitmask" "$body" |
		py "print(d['bitMaskData'])" | mask_names
}
mask_names() { # hex on stdin -> the sample names it selects, sorted
	local hex
	hex=$(cat)
	api GET "/v1/datasets/$DS/mappings?field=fileName" | python3 -c '
import json, sys
names, m = json.load(sys.stdin), int(sys.argv[1], 16)
print("\n".join(sorted(n for i, n in enumerate(names) if m >> i & 1)))' "$hex"
}

@test "A+B, A&B and A~B list the server's result: overlapping, nested, disjoint and empty" {
	mount_fs
	local a b op sym
	for pair in "tag-a overlap" "tag-a inside" "tag-a tag-b" "inside tag-a" "tag-a empty" "tag-a tag-a"; do
		read -r a b <<<"$pair"
		for op in UNION INTERSECTION DIFFERENCE; do
			case $op in UNION) sym=+ ;; INTERSECTION) sym='&' ;; *) sym='~' ;; esac
			run mount_files "$MNT/scenes/$a$sym$b"
			assert_success
			assert_equal "$output" "$(server_result "$a" "$op" "$b")"
		done
	done
	# nested file names are folders, as in a tag
	run ls "$MNT/scenes/tag-a+tag-b"
	assert_output "$(printf 'a\nb\ntop1.png\ntop2.png')"
	run ls "$MNT/scenes/tag-a&tag-b"
	assert_output ""
}

@test "results are looked up, never listed: ls and find do not show them" {
	mount_fs
	ls "$MNT/scenes/tag-a+tag-b" >/dev/null
	run ls "$MNT/scenes"
	assert_output "$(printf 'empty\ninitial-tag\ninside\noverlap\ntag-a\ntag-b')"
	run bash -c "find '$MNT/scenes' | grep -c '[+&~]'"
	assert_output 0
}

@test "a result follows an edit of an operand, through the mount and through the API" {
	mount_fs -o cache_ttl=1
	run mount_files "$MNT/scenes/tag-a&overlap"
	assert_output "top1.png"
	ln "$MNT/scenes/initial-tag/top2.png" "$MNT/scenes/tag-a/" # ours, pending
	run mount_files "$MNT/scenes/tag-a&overlap"
	assert_output "$(printf 'top1.png\ntop2.png')"
	# theirs: overlap loses top1.png
	api PUT "/v1/datasets/$DS/tags/$(tag_id "$DS" overlap)" \
		'{"name": "overlap", "bitMaskData": "0x30"}' >/dev/null
	sleep 1.5
	run mount_files "$MNT/scenes/tag-a&overlap"
	assert_output "top2.png"
}

@test "mv 'DS/A+B' DS/NEW saves the result as a tag on the server" {
	local parent
	parent=$(tag_id "$DS" tag-a)
	mount_fs
	mv "$MNT/scenes/tag-a+tag-b" "$MNT/scenes/both-sets"
	tag_json both-sets | py "
assert d['bitMaskData'] == '0x1f', d
assert d['prevTagId'] == '$parent', d  # the server makes A its parent
assert d['changes'][0]['creator'] == 'USER_PIP', d"
	run ls "$MNT/scenes"
	assert_line both-sets
	run mount_files "$MNT/scenes/both-sets"
	assert_output "$(server_result tag-a UNION tag-b)"
}

@test "name errors: an unknown operand is ENOENT, mkdir of an operator name EINVAL, edits inside EPERM" {
	mount_fs
	run ls "$MNT/scenes/tag-a+nosuch"
	assert_failure
	assert_output --partial "No such file or directory"
	run ls "$MNT/scenes/tag-a+tag-b+inside"
	assert_output --partial "No such file or directory"
	stats_reset
	# a result that exists is a directory already, as mkdir says
	run mkdir "$MNT/scenes/tag-a+tag-b"
	assert_output --partial "File exists"
	run mkdir "$MNT/scenes/new+thing"
	assert_output --partial "Invalid argument"
	assert_equal "$(stat_count 'POST /v1/datasets/{datasetId}/tags')" 0
	run ln "$MNT/scenes/initial-tag/top3.png" "$MNT/scenes/tag-a+tag-b/"
	assert_output --partial "Operation not permitted"
	run rm "$MNT/scenes/tag-a+tag-b/top1.png"
	assert_output --partial "Operation not permitted"
}

# the export as the API serves it, links' one-time tokens left out
export_api() { # tag format-path
	api GET "/v1/datasets/$DS/tags/$(tag_id "$DS" "$1")/export/$2" | normalize
}
normalize() { python3 -c '
import json, re, sys
d = json.load(sys.stdin)
print(re.sub(r"publicToken=[^&\"]*", "", json.dumps(d, sort_keys=True)))'; }

@test "exports: both formats are what the API serves, for cat, cp, jq, json.load, tar and rsync -a" {
	mount_fs
	local x="$MNT/scenes/.lightly/exports" out="$BATS_TEST_TMPDIR/out"
	# listed nowhere (a walk would fetch them), there by name
	run ls -A "$x"
	assert_output ""
	want_ls=$(export_api tag-a LabelStudioTasks)
	want_lb=$(export_api tag-a LabelBoxDataRows)
	assert_equal "$(normalize <"$x/tag-a.labelstudio.json")" "$want_ls"
	assert_equal "$(normalize <"$x/tag-a.labelbox.json")" "$want_lb"
	# the size is right before anyone reads
	[ "$(stat -c %s "$x/tag-a.labelbox.json")" -gt 100 ]
	[ "$(stat -c %s "$x/tag-a.labelbox.json")" = "$(wc -c <"$x/tag-a.labelbox.json")" ]
	mkdir -p "$out"
	cp "$x/tag-a.labelbox.json" "$out/cp.json"
	assert_equal "$(normalize <"$out/cp.json")" "$want_lb"
	assert_equal "$(jq length "$x/tag-a.labelstudio.json")" 3
	python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 3' "$x/tag-a.labelbox.json"
	tar -C "$x" -cf "$out/x.tar" tag-a.labelbox.json
	tar -C "$out" -xf "$out/x.tar"
	assert_equal "$(normalize <"$out/tag-a.labelbox.json")" "$want_lb"
	rsync -a "$x/tag-a.labelstudio.json" "$out/rs.json"
	assert_equal "$(normalize <"$out/rs.json")" "$want_ls"
}

@test "exports with options: -o export_expires and -o access_control reach the server" {
	mount_fs -o export_expires=600,access_control=team-a
	stats_reset
	cat "$MNT/scenes/.lightly/exports/tag-b.labelbox.json" >/dev/null
	assert_equal "$(stat_count 'GET /v1/datasets/{datasetId}/tags/{tagId}/export/LabelBox/datarows')" 1
}

@test "upsize: echo NAME > DS/.lightly/upsize adds the new samples as a tag, and every view grows" {
	mount_fs
	run cat "$MNT/scenes/.lightly/upsize"
	assert_output --partial "echo NAME > upsize"
	run ls "$MNT/scenes/initial-tag"
	for f in new1.jpg new2.jpg; do
		api POST "/v1/datasets/$DS/samples" "{\"fileName\": \"$f\"}" >/dev/null
	done
	run bash -c "echo 'bad name!' > '$MNT/scenes/.lightly/upsize'"
	assert_failure
	assert_output --partial "Invalid argument"
	echo fresh-batch >"$MNT/scenes/.lightly/upsize"
	run ls "$MNT/scenes"
	assert_line fresh-batch
	run ls "$MNT/scenes/fresh-batch"
	assert_output "$(printf 'new1.jpg\nnew2.jpg')"
	run ls "$MNT/scenes/initial-tag"
	assert_line new1.jpg
	tag_json fresh-batch | py "assert d['bitMaskData'] == '0xc0', d"
}

@test "MOUNT/.lightly/README and DS/.lightly/README explain the layout" {
	mount_fs
	run cat "$MNT/.lightly/README"
	assert_output --partial "DS/A+B"
	assert_output --partial "exports"
	assert_output --partial "upsize"
	run cat "$MNT/scenes/.lightly/README"
	assert_output --partial "trash"
}
