#!/usr/bin/env bats
# The read-only mount: what ls, find, stat and cat show, checked against what
# the emulator's API says, and what that costs in requests.

# Each @test runs in a subshell of its own, so MNT, status and output set in
# one test (directly, or by mount_fs and run) stay in it, as they should.
# shellcheck disable=SC2030,SC2031
load helpers

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
}

setup() {
	emu_start
	DS=$(make_dataset street-scenes \
		cam0/a/frame_0001.jpg cam0/a/frame_0002.jpg cam0/b/frame_0003.jpg \
		cam1/frame_0004.jpg top.png other.png)
	# samples 0..5; 0x59 = {0,3,4,6} is too long; 0x19 = {0,3,4}
	make_tag "$DS" night 0x19 >/dev/null
	make_tag "$DS" night-blurry 0x9 night >/dev/null
	make_tag "$DS" empty-tag 0x0 >/dev/null
	DS2=$(make_dataset warehouse pallet_1.jpg pallet_2.jpg)
}

teardown() {
	unmount_fs
	emu_stop
}

@test "the root lists every dataset the token sees, and .lightly" {
	mount_fs
	run ls -A "$MNT"
	assert_success
	assert_output "$(printf '.lightly\nstreet-scenes\nwarehouse')"
}

@test "two datasets with one name show as name@id" {
	local dup
	dup=$(make_dataset warehouse x.jpg)
	mount_fs
	run ls "$MNT"
	assert_output "$(printf 'street-scenes\nwarehouse@%s\nwarehouse@%s' "$DS2" "$dup" | LC_ALL=C sort)"
	run ls "$MNT/warehouse@$dup/initial-tag"
	assert_output "x.jpg"
}

@test "a dataset lists its tags" {
	mount_fs
	run ls "$MNT/street-scenes"
	assert_output "$(printf 'empty-tag\ninitial-tag\nnight\nnight-blurry')"
}

@test "every tag lists exactly the names and nesting get_filenames_by_tag_id returns" {
	mount_fs
	for t in initial-tag night night-blurry empty-tag; do
		diff <(server_filenames "$DS" "$(tag_id "$DS" "$t")") \
			<(mount_files "$MNT/street-scenes/$t") || return 1
	done
	run ls "$MNT/street-scenes/night"
	assert_output "$(printf 'cam0\ncam1\ntop.png')"
	run ls "$MNT/street-scenes/night/cam0"
	assert_output "a"
	run find "$MNT/street-scenes/night-blurry" -mindepth 1
	assert_output "$(printf '%s\n' "$MNT/street-scenes/night-blurry/cam0" \
		"$MNT/street-scenes/night-blurry/cam0/a" \
		"$MNT/street-scenes/night-blurry/cam0/a/frame_0001.jpg" \
		"$MNT/street-scenes/night-blurry/cam1" \
		"$MNT/street-scenes/night-blurry/cam1/frame_0004.jpg")"
}

@test "a folder with no sample of the tag does not exist in that tag" {
	mount_fs
	run ls "$MNT/street-scenes/night/cam0/b"
	assert_failure
	assert_output --partial "No such file or directory"
	run stat "$MNT/street-scenes/night-blurry/top.png"
	assert_failure
}

@test "attributes: directories 0755, files 0444 of the sample's size, owned by the mounting user" {
	mount_fs
	local size
	size=$(api GET "/v1/datasets/$DS/samples" | py "print([s['metaData']['sizeInBytes'] for s in d if s['fileName'] == 'top.png'][0])")
	[ "$size" -gt 0 ]
	run stat -c '%A %U %s' "$MNT/street-scenes/night" "$MNT/street-scenes/night/top.png"
	assert_output "$(printf 'drwxr-xr-x %s 0\n-r--r--r-- %s %s' "$(id -un)" "$(id -un)" "$size")"
	local created
	created=$(api GET "/v1/datasets/$DS/tags/$(tag_id "$DS" night)" | py "print(d['createdAt']//1000)")
	# a tag directory's mtime is the tag's lastModifiedAt
	local modified
	modified=$(api GET "/v1/datasets/$DS/tags/$(tag_id "$DS" night)" | py "print(d['lastModifiedAt']//1000)")
	run stat -c '%Y' "$MNT/street-scenes/night"
	assert_output "$modified"
	[ "$output" -ge "$created" ]
}

@test "directory entries carry their type so find needs no stat" {
	mount_fs
	run find "$MNT/street-scenes/initial-tag" -type f
	assert_equal "$(echo "$output" | wc -l)" 6
	run find "$MNT/street-scenes/initial-tag" -type d
	assert_equal "$(echo "$output" | wc -l)" 5
}

@test ".lightly/dataset.json is the dataset as the API returns it" {
	mount_fs
	run ls "$MNT/street-scenes/.lightly" "$MNT/street-scenes/.lightly/tags"
	assert_output --partial "dataset.json"
	assert_output --partial "night-blurry.json"
	python3 - "$MNT/street-scenes/.lightly/dataset.json" <<PY
import json, sys, urllib.request
mine = json.load(open(sys.argv[1]))
theirs = json.load(urllib.request.urlopen("$EMU_URL/v1/datasets/$DS?token=$TOKEN"))
assert mine == theirs, (mine, theirs)
PY
}

@test ".lightly/tags/<tag>.json is get_tag_by_tag_id of that tag" {
	mount_fs
	local tid
	tid=$(tag_id "$DS" night)
	python3 - "$MNT/street-scenes/.lightly/tags/night.json" <<PY
import json, sys, urllib.request
mine = json.load(open(sys.argv[1]))
theirs = json.load(urllib.request.urlopen("$EMU_URL/v1/datasets/$DS/tags/$tid?token=$TOKEN"))
assert mine == theirs, (mine, theirs)
assert mine["bitMaskData"] == "0x19"
PY
}

@test "-o dataset=ID mounts one dataset as the root" {
	mount_fs -o "dataset=$DS"
	run ls "$MNT"
	assert_output "$(printf 'empty-tag\ninitial-tag\nnight\nnight-blurry')"
	run cat "$MNT/night-blurry/cam1/frame_0004.jpg"
	assert_success
}

@test "-o dataset=NAME mounts the dataset of that name" {
	mount_fs -o dataset=warehouse
	run ls "$MNT/initial-tag"
	assert_output "$(printf 'pallet_1.jpg\npallet_2.jpg')"
}

@test "-o dataset= with an unknown name fails the mount with the reason" {
	MNT=$(mktemp -d)
	run env LIGHTLY_TOKEN="$TOKEN" LIGHTLY_SERVER_LOCATION="$EMU_URL" \
		"$LIGHTLYFS_BIN" -f -o dataset=nosuch "$MNT"
	assert_failure
	assert_output "lightlyfs: no dataset named nosuch"
	rmdir "$MNT"; MNT=""
}

@test "a wrong token fails the mount at start with one line naming the cause" {
	MNT=$(mktemp -d)
	run env LIGHTLY_TOKEN=wrong LIGHTLY_SERVER_LOCATION="$EMU_URL" \
		"$LIGHTLYFS_BIN" -f "$MNT"
	assert_failure
	assert_output "lightlyfs: the server $EMU_URL rejected the API token"
	run mountpoint -q "$MNT"
	assert_failure
	rmdir "$MNT"; MNT=""
}

@test "a missing token fails the mount at start" {
	MNT=$(mktemp -d)
	run env -u LIGHTLY_TOKEN LIGHTLY_SERVER_LOCATION="$EMU_URL" \
		"$LIGHTLYFS_BIN" -f "$MNT"
	assert_failure
	assert_output --partial "no API token"
	rmdir "$MNT"; MNT=""
}

@test "an unreachable server fails the mount at start" {
	MNT=$(mktemp -d)
	run env LIGHTLY_TOKEN="$TOKEN" LIGHTLY_SERVER_LOCATION=http://127.0.0.1:9 \
		"$LIGHTLYFS_BIN" -f "$MNT"
	assert_failure
	assert_output "lightlyfs: cannot reach http://127.0.0.1:9: Connection refused"
	rmdir "$MNT"; MNT=""
}

@test "a host that does not resolve fails the mount with 'cannot resolve host'" {
	MNT=$(mktemp -d)
	# .invalid never resolves (RFC 6761)
	run env LIGHTLY_TOKEN="$TOKEN" LIGHTLY_SERVER_LOCATION=https://no-such-host.invalid \
		"$LIGHTLYFS_BIN" -f "$MNT"
	assert_failure
	assert_output "lightlyfs: cannot resolve host no-such-host.invalid (of https://no-such-host.invalid)"
	rmdir "$MNT"; MNT=""
}

@test "a server URL with a wrong path (404) fails the mount with 'no Lightly API at'" {
	MNT=$(mktemp -d)
	run env LIGHTLY_TOKEN="$TOKEN" LIGHTLY_SERVER_LOCATION="$EMU_URL/api" \
		"$LIGHTLYFS_BIN" -f "$MNT"
	assert_failure
	assert_output "lightlyfs: no Lightly API at $EMU_URL/api (HTTP 404)"
	rmdir "$MNT"; MNT=""
}

@test "a token file that is a directory says so" {
	local td
	td=$(mktemp -d)
	MNT=$(mktemp -d)
	run env -u LIGHTLY_TOKEN LIGHTLY_SERVER_LOCATION="$EMU_URL" \
		"$LIGHTLYFS_BIN" -f -o "token_file=$td" "$MNT"
	assert_failure
	assert_output "lightlyfs: token file $td is a directory"
	rmdir "$MNT" "$td"; MNT=""
}

@test "the token can come from a file, which must not be readable by others" {
	local tf
	tf=$(mktemp)
	printf '%s\n' "$TOKEN" >"$tf"
	chmod 644 "$tf"
	MNT=$(mktemp -d)
	run env -u LIGHTLY_TOKEN LIGHTLY_SERVER_LOCATION="$EMU_URL" \
		"$LIGHTLYFS_BIN" -f -o "token_file=$tf" "$MNT"
	assert_failure
	assert_output --partial "readable by others"
	rmdir "$MNT"; MNT=""
	chmod 600 "$tf"
	mount_fs -u LIGHTLY_TOKEN -o "token_file=$tf"
	run ls "$MNT"
	assert_output --partial street-scenes
	rm -f "$tf"
}

@test "listing every tag of a dataset costs one tags fetch and one mappings fetch" {
	mount_fs
	stats_reset
	for t in initial-tag night night-blurry empty-tag; do
		find "$MNT/street-scenes/$t" >/dev/null
	done
	assert_equal "$(stat_count 'GET /v1/datasets/{datasetId}/tags')" 1
	assert_equal "$(stat_count 'GET /v1/datasets/{datasetId}/mappings')" 1
	assert_equal "$(stat_count 'GET /v1/datasets/{datasetId}/tags/{tagId}/filenames')" 0
	assert_equal "$(stat_total)" 2
}

@test "without a mappings endpoint each tag is listed from its filenames, with the same result" {
	fault '{"match": "GET /v1/datasets/{datasetId}/mappings", "status": 404}'
	mount_fs
	for t in initial-tag night night-blurry empty-tag; do
		diff <(server_filenames "$DS" "$(tag_id "$DS" "$t")") \
			<(mount_files "$MNT/street-scenes/$t") || return 1
	done
	[ "$(stat_count 'GET /v1/datasets/{datasetId}/tags/{tagId}/filenames')" -ge 4 ]
}

@test "names that cannot be a path are left out, counted in the log, and never escape" {
	local long
	long=$(printf 'x%.0s' $(seq 1 300))
	make_dataset hostile ok.jpg ".." "." "a/../../escape.jpg" "" "dir//y.jpg" \
		"$long.jpg" "ok.jpg" "sub/fine.jpg" >/dev/null
	mount_fs
	run mount_files "$MNT/hostile/initial-tag"
	assert_output "$(printf 'ok.jpg\nsub/fine.jpg')"
	run ls -a "$MNT/hostile/initial-tag"
	assert_output "$(printf '.\n..\nok.jpg\nsub')"
	[ ! -e "$MNT/hostile/escape.jpg" ]
	grep -q "7 sample names cannot be shown" "$FS_LOG"
}

@test ".lightly files cannot be written" {
	mount_fs
	run bash -c "echo x >'$MNT/street-scenes/.lightly/dataset.json'"
	assert_failure
	run bash -c "echo x >'$MNT/.lightly/stats'"
	assert_failure
	run rm "$MNT/street-scenes/.lightly/dataset.json"
	assert_failure
	assert_output --partial "Operation not permitted"
}

@test "a change on the server shows up after the TTL, not before" {
	mount_fs -o cache_ttl=1
	run ls "$MNT/street-scenes"
	refute_output --partial late-tag
	make_tag "$DS" late-tag 0x2 >/dev/null
	sleep 1.5
	run ls "$MNT/street-scenes"
	assert_output --partial late-tag
	run ls "$MNT/street-scenes/late-tag"
	assert_output "$(printf 'cam0')"
}
