#!/usr/bin/env bats
# What the kernel asks for when a big tag is listed: `ls -l` right after
# `ls -f` must not cost one LOOKUP per entry (rdplus.h says why it would).
# Requests to the daemon are counted from libfuse's -d trace.

# what ls itself does is the thing measured here, so ls it is
# shellcheck disable=SC2010,SC2012

load helpers

N=20000

setup() {
	# sizes that differ per sample: a size shown at the wrong entry shows
	emu_start --blob-sizes varied --dataset "listed:$N"
}

teardown() {
	unmount_fs
	emu_stop
}

fuse_ops() { grep -c "opcode: $1 " "$FS_LOG" || true; }

@test "ls -l right after ls -f reads on with READDIRPLUS instead of a LOOKUP per entry" {
	mount_fs -d -o cache_ttl=3600
	[ "$(ls -f "$MNT/listed/initial-tag" | wc -l)" -eq $((N + 2)) ]
	before=$(fuse_ops LOOKUP)
	plus_before=$(fuse_ops READDIRPLUS)
	[ "$(ls -l "$MNT/listed/initial-tag" | grep -c '^-')" -eq "$N" ]
	lookups=$(( $(fuse_ops LOOKUP) - before ))
	plus=$(( $(fuse_ops READDIRPLUS) - plus_before ))
	echo "LOOKUPs during ls -l: $lookups, READDIRPLUS: $plus" >&3
	# only what ls already holds of the cached listing is looked up
	[ "$lookups" -lt $((N / 4)) ]
	[ "$plus" -ge 1 ]
	# and the next ls -l needs the daemon for nothing at all
	before=$(fuse_ops LOOKUP)
	ls -l "$MNT/listed/initial-tag" >/dev/null
	assert_equal "$(( $(fuse_ops LOOKUP) - before ))" 0
}

@test "a warm ls -f after ls -f is served by the kernel's cached listing" {
	mount_fs -d -o cache_ttl=3600
	ls -f "$MNT/listed/initial-tag" >/dev/null
	before=$(( $(fuse_ops READDIR) + $(fuse_ops READDIRPLUS) ))
	ls -f "$MNT/listed/initial-tag" >/dev/null
	assert_equal "$(( $(fuse_ops READDIR) + $(fuse_ops READDIRPLUS) - before ))" 0
}

samples_key='GET /v1/datasets/{datasetId}/samples'

@test "first ls -l: every size is the sample listing's, each of its 10 pages asked for once, several in flight" {
	mount_fs -o cache_ttl=3600
	DS=$(dataset_id listed)
	api GET "/v1/datasets/$DS/samples" |
		py "print('\\n'.join('%s %d' % (s['fileName'], s['metaData']['sizeInBytes']) for s in d))" |
		LC_ALL=C sort >"$BATS_TEST_TMPDIR/want"
	ls "$MNT/listed" >/dev/null
	stats_reset
	# slow pages: without loading ahead, each waits for the one before
	fault '{"match": "'"$samples_key"'", "delay_ms": 100, "count": 1000}'
	ls -l "$MNT/listed/initial-tag" | awk '$1 ~ /^-/ { print $9, $5 }' |
		LC_ALL=C sort >"$BATS_TEST_TMPDIR/got"
	faults_clear
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/got")" "$N"
	cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	assert_equal "$(stat_count "$samples_key")" $((N / 2000))
	inflight=$(curl -sS "$EMU_URL/_emulator/stats" | py "print(d['maxInFlight'].get('$samples_key', 0))")
	echo "most sample pages in flight at once: $inflight" >&3
	[ "$inflight" -ge 2 ]
}

@test "ls -f reads no page of the sample listing" {
	mount_fs -o cache_ttl=3600
	ls "$MNT/listed" >/dev/null
	stats_reset
	[ "$(ls -f "$MNT/listed/initial-tag" | wc -l)" -eq $((N + 2)) ]
	assert_equal "$(stat_count "$samples_key")" 0
}
