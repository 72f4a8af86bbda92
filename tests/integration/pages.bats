#!/usr/bin/env bats
# Mapping pages fetched side by side (-o page_streams): a dataset of four
# pages is listed with the same four requests, several in flight at once on
# reused connections, and its names come out in index order.

# what ls itself does is the thing measured here, so ls it is
# shellcheck disable=SC2010,SC2012

load helpers

N=300001 # four pages of the daemon's 100000

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
}

setup() {
	emu_start --dataset "paged:$N"
}

teardown() {
	unmount_fs
	emu_stop
}

mappings_key='GET /v1/datasets/{datasetId}/mappings'
# field of /_emulator/stats for the mappings route
map_stat() { curl -sS "$EMU_URL/_emulator/stats" | py "print(d['$1'].get('$mappings_key', 0))"; }

# every name of the dataset in index order, as ls -f must show them
expected() { python3 -c "import sys; sys.stdout.write(''.join('sample_%07d.jpg\n' % i for i in range($N)))"; }

@test "a cold listing of four pages keeps three in flight on reused connections, names in index order" {
	mount_fs -o page_streams=3
	stats_reset
	# slow pages: a fast one could be answered before the next is asked
	# for, and the test would measure the race rather than the streams
	fault '{"match": "'"$mappings_key"'", "delay_ms": 100, "count": 1000}'
	ls -f "$MNT/paged/initial-tag" | grep -v '^\.\.\?$' >"$BATS_TEST_TMPDIR/ls"
	faults_clear
	assert_equal "$(stat_count "$mappings_key")" 4
	[ "$(map_stat maxInFlight)" -ge 2 ]
	[ "$(map_stat maxInFlight)" -le 3 ]
	[ "$(map_stat connections)" -le 3 ]
	expected >"$BATS_TEST_TMPDIR/want"
	cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/ls"
}

@test "page_streams=1 asks for one page at a time" {
	mount_fs -o page_streams=1
	stats_reset
	[ "$(ls -f "$MNT/paged/initial-tag" | wc -l)" -eq $((N + 2)) ]
	assert_equal "$(stat_count "$mappings_key")" 4
	assert_equal "$(map_stat maxInFlight)" 1
}

@test "a page that fails fails the listing with EIO, and the next listing fetches again" {
	mount_fs -o page_streams=3,timeout=2
	fault '{"match": "GET /v1/datasets/{datasetId}/mappings", "status": 500, "count": 1000}'
	run ls -f "$MNT/paged/initial-tag"
	[ "$status" -ne 0 ]
	faults_clear
	[ "$(ls -f "$MNT/paged/initial-tag" | wc -l)" -eq $((N + 2)) ]
}

@test "names are indexed in order through the prefetch: long names, a duplicate, names after folders" {
	local long names
	long="$(printf 'L%.0s' $(seq 200))/$(printf 'M%.0s' $(seq 200)).jpg"
	names=()
	for i in $(seq -f '%03g' 0 19); do names+=("a_$i.jpg"); done
	names+=("$long" "a_005.jpg" "sub/b.jpg" "z.jpg" "a_005.jpg/x.jpg")
	make_dataset mixed "${names[@]}" >/dev/null
	mount_fs
	# folders first, then the samples in index order; the second a_005.jpg
	# is a duplicate, hidden, and so is a folder of a file's name
	ls -f "$MNT/mixed/initial-tag" | grep -v '^\.\.\?$' >"$BATS_TEST_TMPDIR/got"
	{
		printf 'L%.0s' $(seq 200)
		printf '\nsub\n'
		for i in $(seq -f '%03g' 0 19); do echo "a_$i.jpg"; done
		echo z.jpg
	} >"$BATS_TEST_TMPDIR/want"
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	assert_equal "$(ls "$MNT/mixed/initial-tag/${long%/*}")" "${long#*/}"
	assert_equal "$(ls "$MNT/mixed/initial-tag/sub")" "b.jpg"
}
