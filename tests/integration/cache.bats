#!/usr/bin/env bats
# The daemon's cache: what it costs in requests cold and warm, single-flight,
# TTL, the size bound, SIGHUP, append-only index refresh, and .lightly/stats.

load helpers

setup() {
	emu_start
	DS=$(make_dataset cached-set a/1.jpg a/2.jpg b/3.jpg 4.jpg 5.jpg)
	make_tag "$DS" some 0x15 >/dev/null
	make_tag "$DS" more 0xa >/dev/null
	make_dataset second-set q.jpg r.jpg >/dev/null
}

teardown() {
	unmount_fs
	emu_stop
}

mappings() { stat_count 'GET /v1/datasets/{datasetId}/mappings'; }
tags_fetches() { stat_count 'GET /v1/datasets/{datasetId}/tags'; }

@test "8 concurrent cold listings of one tag make one tags fetch and one mappings fetch" {
	mount_fs
	stats_reset
	local pids=() i
	for i in $(seq 1 8); do
		ls -f "$MNT/cached-set/initial-tag" >"$BATS_TEST_TMPDIR/ls.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	assert_equal "$(mappings)" 1
	assert_equal "$(tags_fetches)" 1
	for i in $(seq 1 8); do
		assert_equal "$(sort "$BATS_TEST_TMPDIR/ls.$i" | tr '\n' ' ')" ". .. 4.jpg 5.jpg a b "
	done
}

@test "a warm mount answers ls, stat and find with no request at all" {
	mount_fs
	find "$MNT" >/dev/null
	stats_reset
	find "$MNT" >/dev/null
	# find needs no size: no page of the sample listing was read
	assert_equal "$(stat_count "GET /v1/datasets/{datasetId}/samples")" 0
	# sizes come with the first ls -l, once
	ls -lR "$MNT/cached-set" >/dev/null
	assert_equal "$(stat_count "GET /v1/datasets/{datasetId}/samples")" 1
	stats_reset
	ls -lR "$MNT/cached-set" >/dev/null
	stat "$MNT/cached-set/some/a/1.jpg" >/dev/null
	assert_equal "$(stat_total)" 0
}

@test "after the TTL the next access asks again, once" {
	mount_fs -o cache_ttl=1
	find "$MNT/cached-set" >/dev/null
	sleep 1.5
	stats_reset
	find "$MNT/cached-set" >/dev/null
	assert_equal "$(tags_fetches)" 1
	# the names are append-only: a known, unchanged index is not fetched again
	assert_equal "$(mappings)" 0
}

@test "new samples on the server: the refresh fetches only the names past the known ones" {
	local long names
	long=$(python3 -c 'print(" ".join("folder_%04d/%s.jpg" % (i, "n" * 60) for i in range(3000)))')
	read -ra names <<<"$long"
	local id
	id=$(make_dataset growing "${names[@]}")
	mount_fs -o cache_ttl=1
	run ls "$MNT/growing/initial-tag"
	assert_equal "$(echo "$output" | wc -l)" 3000
	local before after
	before=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api"]["bytesReceived"])' "$MNT/.lightly/stats")
	curl -sS -X POST --data '{"fileNames": ["late/new.jpg"]}' "$EMU_URL/_emulator/datasets/$id/samples" >/dev/null
	api POST "/v1/datasets/$id/tags/upsize" '{"upsizeTagName": "grown", "upsizeTagCreator": "USER_PIP"}' >/dev/null
	sleep 1.5
	run ls "$MNT/growing/grown"
	assert_output "late"
	run ls "$MNT/growing/initial-tag/late"
	assert_output "new.jpg"
	after=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api"]["bytesReceived"])' "$MNT/.lightly/stats")
	# the 3000 old names are ~250 kB; the refresh must not fetch them again
	[ $((after - before)) -lt 50000 ]
}

@test "the size bound evicts the least recently used index, which is fetched again when needed" {
	mount_fs -o cache_size=0.0001
	ls "$MNT/cached-set/initial-tag" >/dev/null
	ls "$MNT/second-set/initial-tag" >/dev/null
	stats_reset
	# a different folder: the kernel has not cached its listing
	run ls "$MNT/cached-set/initial-tag/a"
	assert_output "$(printf '1.jpg\n2.jpg')"
	assert_equal "$(mappings)" 1
	python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["cache"]
assert s["evictions"] >= 1, s
assert s["memoryBoundBytes"] == 104, s' "$MNT/.lightly/stats"
}

@test "SIGHUP drops the caches and the mount keeps serving" {
	mount_fs
	find "$MNT" >/dev/null
	stats_reset
	kill -HUP "$FS_PID"
	for _ in $(seq 1 50); do grep -q "caches dropped" "$FS_LOG" && break; sleep 0.1; done
	run ls "$MNT/cached-set/some"
	assert_output "$(printf '5.jpg\na\nb')"
	[ "$(stat_total)" -ge 2 ]
	kill -0 "$FS_PID"
}

@test "our own change is visible at once, without waiting for the TTL" {
	mount_fs -o cache_ttl=3600
	ls "$MNT/cached-set/more" >/dev/null
	ln "$MNT/cached-set/initial-tag/5.jpg" "$MNT/cached-set/more/"
	run ls "$MNT/cached-set/more"
	assert_output "$(printf '4.jpg\n5.jpg\na')"
	mkdir "$MNT/cached-set/fresh-tag"
	run ls "$MNT/cached-set"
	assert_output "$(printf 'fresh-tag\ninitial-tag\nmore\nsome')"
}

@test ".lightly/stats reports requests by endpoint, cache counters and memory, never the token" {
	mount_fs
	find "$MNT/cached-set" >/dev/null
	run cat "$MNT/.lightly/stats"
	assert_success
	refute_output --partial "$TOKEN"
	python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["api"]["requests"]["list_tags"] >= 1, s
assert s["api"]["requests"]["get_mappings"] >= 1, s
assert s["api"]["bytesReceived"] > 0, s
c = s["cache"]
assert c["misses"] >= 2 and c["hits"] >= 1, c
assert c["samplesIndexed"] == 5, c
assert c["memoryBytes"] > 0, c' "$MNT/.lightly/stats"
}
