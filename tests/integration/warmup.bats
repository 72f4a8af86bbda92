#!/usr/bin/env bats
# Training from the mount (issue 23).  lightlyfs warmup: a running mount
# fetches a tag, a folder or files into its content cache; --check and
# --evict agree with what storage is asked for afterwards; a PATH bigger
# than the cache is refused before anything is fetched; a reader's open is
# served ahead of a warm-up.  A shuffled reader has the rest of the tag
# fetched in the background, a tag too big for the cache is said once.  What
# storage saw is read from the emulator's /_emulator/stats/storage.

load helpers

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
}

setup() {
	emu_start
	# 12 samples of 40 KiB: 4 at the top, 8 in a folder
	local files=() i
	for i in 1 2 3 4; do files+=("top_0$i.png:40960"); done
	for i in 1 2 3 4 5 6 7 8; do files+=("site/s_0$i.png:40960"); done
	DS_ID=$(seed_sized alpha "${files[@]}")
	make_tag "$DS_ID" half 0xff0 >/dev/null # top_01..04 out, site/* in
}

teardown() {
	[ -n "${EMU_PID:-}" ] && faults_clear
	# the background warm-up is not this shell's child: killed by its pid
	[ -z "${BG_PID:-}" ] || kill "$BG_PID" 2>/dev/null || true
	unmount_fs
	emu_stop
}

# bg_warmup PATH: warmup --background, its pid in BG_PID (teardown kills it)
bg_warmup() {
	run warmup --background "$1"
	if [ "$status" -ne 0 ] || [[ "$output" != *"in the background (pid "* ]]; then fail "$output"; fi
	BG_PID=$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' <<<"$output")
	[ -n "$BG_PID" ] || fail "no pid in: $output"
}
storage_gets() { curl -sS "$EMU_URL/_emulator/stats/storage" | py "print(d['requests'])"; }
warmup() { "$LIGHTLYFS_BIN" warmup "$@"; }

@test "warmup of a tag fetches each of its files once; a copy afterwards asks storage for nothing" {
	mount_fs
	run warmup "$MNT/alpha/initial-tag"
	[ "$status" -eq 0 ] || fail "warmup: $output"
	[[ "$output" == *"12 files, 0.5 MiB cached"* ]] || fail "summary: $output"
	[ "$(storage_gets)" -eq 12 ] || fail "storage was asked $(storage_gets) times for 12 files"
	# their read URLs came by page, not a readurl each (issue 22)
	run python3 -c 'import json,sys; c = json.load(open(sys.argv[1]))["content"]; print(c["readUrls"], c["urlsPaged"])' "$MNT/.lightly/stats"
	assert_output "0 12"
	cp -r "$MNT/alpha/initial-tag" "$BATS_TEST_TMPDIR/copy"
	[ "$(storage_gets)" -eq 12 ] || fail "the copy after the warm-up asked storage $(($(storage_gets) - 12)) more times"
	[ "$(find "$BATS_TEST_TMPDIR/copy" -type f | wc -l)" -eq 12 ]
	[ "$(find "$BATS_TEST_TMPDIR/copy" -type f -printf '%s\n' | awk '{ t += $1 } END { print t }')" -eq $((12 * 40960)) ]
}

@test "--check and --evict agree: a folder, a file, a whole tag" {
	mount_fs
	run warmup --check "$MNT/alpha/half"
	[ "$status" -eq 1 ]
	[[ "$output" == *"0 of 8 files cached (0.0 of 0.3 MiB)"* ]] || fail "$output"
	warmup "$MNT/alpha/half/site" >/dev/null
	run warmup --check "$MNT/alpha/initial-tag"
	[ "$status" -eq 1 ]
	[[ "$output" == *"8 of 12 files cached"* ]] || fail "$output"
	run warmup --check "$MNT/alpha/initial-tag/site" "$MNT/alpha/half/site/s_03.png"
	[ "$status" -eq 0 ] || fail "$output"
	[[ "$output" == *"8 of 8 files cached"* ]] || fail "$output"
	[[ "$output" == *"1 of 1 files cached"* ]] || fail "$output"
	run warmup --evict "$MNT/alpha/initial-tag/site/s_03.png"
	[ "$status" -eq 0 ] && [[ "$output" == *"1 files dropped"* ]] || fail "$output"
	run warmup --check "$MNT/alpha/half"
	[[ "$output" == *"7 of 8 files cached"* ]] || fail "$output"
	# what --check says is what storage is asked for: only the dropped one
	local before
	before=$(storage_gets)
	cat "$MNT"/alpha/half/site/* >/dev/null
	[ "$(($(storage_gets) - before))" -eq 1 ] || fail "reading the folder asked storage $(($(storage_gets) - before)) times, 1 expected"
	run warmup --evict "$MNT/alpha/initial-tag"
	[[ "$output" == *"8 files dropped"* ]] || fail "$output"
	run warmup --check "$MNT/alpha/initial-tag"
	[[ "$output" == *"0 of 12 files cached"* ]] || fail "$output"
}

@test "a PATH bigger than content_cache_mb is refused with both sizes, before anything is fetched" {
	seed_sized big "a.png:700000" "b.png:700000" >/dev/null
	mount_fs -o content_cache_mb=1
	run warmup "$MNT/big/initial-tag"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is 1.3 MiB, more than the content cache (-o content_cache_mb=1)"* ]] || fail "$output"
	[ "$(storage_gets)" -eq 0 ] || fail "storage was asked $(storage_gets) times"
	run warmup --background "$MNT/big/initial-tag"
	[ "$status" -eq 1 ]
	[ "$(storage_gets)" -eq 0 ]
	# a part that fits is taken
	run warmup "$MNT/big/initial-tag/a.png"
	[ "$status" -eq 0 ] || fail "$output"
}

@test "warmup refuses what is not a tag's, and a path off the mount" {
	mount_fs
	run warmup "$MNT/alpha"
	[ "$status" -eq 1 ] && [[ "$output" == *"is a dataset"* ]] || fail "$output"
	run warmup "$MNT/alpha/.lightly/tags"
	[ "$status" -eq 1 ] && [[ "$output" == *"in .lightly"* ]] || fail "$output"
	run warmup "$BATS_TEST_TMPDIR"
	[ "$status" -eq 1 ] && [[ "$output" == *"is not on a lightlyfs mount"* ]] || fail "$output"
	run warmup "$MNT/alpha/no-such-tag"
	[ "$status" -eq 1 ] && [[ "$output" == *"No such file"* ]] || fail "$output"
	run warmup --check --evict "$MNT/alpha/half"
	[ "$status" -eq 2 ]
}

@test "with -o prefetch_files=0 warmup says the mount fetches nothing ahead; --check still works" {
	mount_fs -o prefetch_files=0
	run warmup "$MNT/alpha/half"
	[ "$status" -eq 1 ] && [[ "$output" == *"fetches nothing ahead (-o prefetch_files=0)"* ]] || fail "$output"
	[ "$(storage_gets)" -eq 0 ]
	run warmup --check "$MNT/alpha/half"
	[[ "$output" == *"0 of 8 files cached"* ]] || fail "$output"
}

@test "a reader's open during a warm-up is served before the warm-up ends" {
	local i files=()
	for i in $(seq -w 1 30); do files+=("f_$i.png:20000"); done
	seed_sized slow "${files[@]}" >/dev/null
	# each storage GET answers after 1 s: 30 files, 2 at a time, take 15 s
	fault '{"match": "GET /blobs/{datasetId}/{sampleId}", "delay_ms": 1000, "count": 1000}'
	mount_fs -o prefetch_files=2
	bg_warmup "$MNT/slow/initial-tag"
	# the last file in the listing: the warm-up would fetch it last
	run cat "$MNT/slow/initial-tag/f_30.png"
	[ "$status" -eq 0 ] && [ "${#output}" -gt 0 ]
	run warmup --check "$MNT/slow/initial-tag"
	[[ "$output" =~ ([0-9]+)\ of\ 30\ files ]] || fail "$output"
	[ "${BASH_REMATCH[1]}" -lt 30 ] || fail "the warm-up had ended when the reader got its file: $output"
	[ "$(stat -c %s "$MNT/slow/initial-tag/f_30.png")" -eq 20000 ]
}

@test "--background returns at once and the warm-up goes on until every file is cached" {
	mount_fs
	fault '{"match": "GET /blobs/{datasetId}/{sampleId}", "delay_ms": 300, "count": 1000}'
	bg_warmup "$MNT/alpha/initial-tag"
	for _ in $(seq 1 150); do
		warmup --check "$MNT/alpha/initial-tag" >/dev/null && break
		sleep 0.2
	done
	run warmup --check "$MNT/alpha/initial-tag"
	[ "$status" -eq 0 ] || fail "$output"
	[ "$(storage_gets)" -eq 12 ]
}

# shuffled_read DIR SEED: opens and reads every file of DIR in a shuffled
# order (as a DataLoader with shuffle=True), one after another; prints how
# many bytes it read
shuffled_read() {
	python3 - "$1" "$2" <<'PY'
import os, random, sys
d, seed = sys.argv[1], int(sys.argv[2])
names = sorted(os.listdir(d))
random.Random(seed).shuffle(names)
total = 0
for n in names:
    with open(os.path.join(d, n), "rb") as f:
        total += len(f.read())
print(total)
PY
}

@test "a shuffled reader has the rest of the tag fetched in the background; each file once" {
	local i files=()
	for i in $(seq 10 49); do files+=("f_$i.png:20000"); done
	seed_sized shuf "${files[@]}" >/dev/null
	fault '{"match": "GET /blobs/{datasetId}/{sampleId}", "delay_ms": 200, "count": 1000}'
	mount_fs -o prefetch_files=2
	run shuffled_read "$MNT/shuf/initial-tag" 7
	[ "$output" = $((40 * 20000)) ] || fail "read $output bytes"
	[ "$(fs_stat content.shuffledListings)" -eq 1 ]
	[ "$(fs_stat content.prefetched)" -gt 0 ] || fail "no file was fetched ahead of its open"
	[ "$(storage_gets)" -eq 40 ] || fail "storage was asked $(storage_gets) times for 40 files"
	run warmup --check "$MNT/shuf/initial-tag"
	[ "$status" -eq 0 ] || fail "$output"
	if grep -q "more than the content cache" "$FS_LOG"; then fail "$(cat "$FS_LOG")"; fi
}

@test "a reader in listing order stays a walk, not a shuffled reader" {
	mount_fs -o prefetch_files=2
	cat "$MNT"/alpha/initial-tag/site/* >/dev/null
	cat "$MNT"/alpha/initial-tag/site/* >/dev/null # a second pass
	[ "$(fs_stat content.shuffledListings)" -eq 0 ]
	[ "$(fs_stat content.prefetched)" -gt 0 ] || fail "the walk fetched nothing ahead"
	[ "$(storage_gets)" -eq 8 ]
}

@test "a tag read shuffled that is bigger than the cache is said once in the log, with both sizes" {
	local i files=()
	for i in $(seq 10 29); do files+=("f_$i.png:100000"); done
	seed_sized shufbig "${files[@]}" >/dev/null
	mount_fs -o content_cache_mb=1
	shuffled_read "$MNT/shufbig/initial-tag" 3 >/dev/null
	shuffled_read "$MNT/shufbig/initial-tag" 4 >/dev/null
	[ "$(grep -c "tag initial-tag: read in shuffled order, and its 1.9 MiB are more than the content cache (-o content_cache_mb=1)" "$FS_LOG")" -eq 1 ] ||
		fail "log: $(grep -i cache "$FS_LOG")"
	[ "$(fs_stat content.shuffledTooBig)" -ge 1 ]
}
