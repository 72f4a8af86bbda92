#!/usr/bin/env bats
# The fault matrix: every kind of request the daemon makes, against every
# kind of failure the emulator can inject.  For each: what the user sees (the
# data, stale data, or an errno) on a cold mount and on a warm one whose cache
# has just expired, that no access takes longer than the deadline plus a
# margin, that the daemon is alive afterwards, and for writes what the
# server holds.  Timings are only ever bounded generously.

load helpers

T=2              # -o timeout: the deadline of one request, retries included
LIMIT=$((T + 3)) # what any one access may take: the deadline plus a margin

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
}

setup() {
	emu_start
	# alpha: 5 samples; some = {a.jpg, sub/c.jpg}; spare is empty
	seed_account '[
	  {"name": "alpha", "samples": ["a.jpg", "b.jpg", "sub/c.jpg", "sub/d.jpg", "e.jpg"],
	   "tags": [["some", "0x5"], ["spare", "0x0"]]},
	  {"name": "beta", "samples": ["x.jpg"]}]' >"$BATS_TEST_TMPDIR/ids"
	DS=$(awk '$1 == "alpha" { print $2 }' "$BATS_TEST_TMPDIR/ids")
	ROOT_LS=".lightly alpha beta"
	ALPHA_LS=".lightly initial-tag some spare"
	SOME_LS="a.jpg sub"
}

teardown() {
	# a fault left behind would stall the final flush of the unmount
	[ -n "${EMU_PID:-}" ] && faults_clear
	unmount_fs
	emu_stop
}

OPTS="timeout=$T,cache_ttl=1"

# ---- the matrix ----

route_of() {
	case $1 in
	datasets) echo "GET /v1/datasets" ;;
	tags) echo "GET /v1/datasets/{datasetId}/tags" ;;
	mappings) echo "GET /v1/datasets/{datasetId}/mappings" ;;
	put) echo "PUT /v1/datasets/{datasetId}/tags/{tagId}" ;;
	post) echo "POST /v1/datasets/{datasetId}/tags" ;;
	delete) echo "DELETE /v1/datasets/{datasetId}/tags/{tagId}" ;;
	esac
}

# fault_fields FAULT KIND: the fault's JSON fields besides "match"
fault_fields() {
	case $1 in
	503x3) echo '"status": 503, "count": 3' ;;
	429) echo '"status": 429, "retry_after_s": 1, "count": 1' ;;
	500) echo '"status": 500' ;;
	delay) echo "\"delay_ms\": $(((T + 1) * 1000))" ;; # beyond the deadline
	drop) echo '"drop": true, "count": 2' ;;
	truncate) echo '"truncate": true, "count": 2' ;;
	truncate-always) echo '"truncate": true' ;;
	malformed) echo '"body": "[{\"id\": \"6b0a59a179e689f6400000\", \"name\": "' ;;
	wrongtype)
		case $2 in
		datasets) echo '"body": [{"id": 42, "name": ["alpha"], "nSamples": "five"}]' ;;
		tags) echo '"body": {"id": "x", "tags": [{"name": 7, "bitMaskData": 5}]}' ;;
		mappings) echo '"body": [1, 2, {"fileName": "a.jpg"}]' ;;
		esac ;;
	esac
}

# outcome FAULT: ok (served after retries), slow (ok, after >= 1 s) or fail
outcome() {
	case $1 in
	503x3 | drop | truncate) echo ok ;;
	429) echo slow ;;
	*) echo fail ;;
	esac
}

# what a failed access must give
errno_ok() { # FAULT GOT (without the "!")
	case $1 in
	delay) [[ $2 == ETIMEDOUT || $2 == EIO ]] ;;
	*) [[ $2 == EIO ]] ;;
	esac
}

# check_access FAULT START GOT WANT [STALE]: the access that met the fault
# gave WANT (the data after retries), or for a failing fault STALE (the last
# good data) or, without STALE, the fault's errno; within the deadline.
check_access() {
	local fault=$1 took want=$4
	took=$(since "$2")
	case $(outcome "$fault") in
	ok) assert_equal "$3" "$want" ;;
	slow)
		assert_equal "$3" "$want"
		assert_between "$took" 0.95 "$LIMIT" ;;
	fail)
		if [ $# -ge 5 ]; then
			assert_equal "$3" "$5"
		else
			if [[ $3 != !* ]] || ! errno_ok "$fault" "${3#!}"; then
				fail "expected the errno of '$fault', got '$3'"
			fi
		fi ;;
	esac
	assert_between "$took" "" "$LIMIT"
}

# read_case KIND FAULT: the cold access, then the warm refresh, under FAULT
read_case() {
	local kind=$1 f=$2 spec
	spec="{\"match\": \"$(route_of "$kind")\", $(fault_fields "$f" "$kind")}"
	"cold_$kind" "$f" "$spec"
	faults_clear
	assert_alive
	"warm_$kind" "$f" "$spec"
	faults_clear
	assert_alive
}

# Datasets are listed when the mount starts: a cold failure fails the mount.
cold_datasets() {
	local t
	fault "$2"
	t=$(now_s)
	if [ "$(outcome "$1")" = fail ]; then
		run_mount -o "$OPTS"
		assert_failure
		assert_between "$(since "$t")" "" "$LIMIT"
		assert_equal "${#lines[@]}" 1
		assert_output --partial "lightlyfs: "
		run mountpoint -q "$MNT"
		assert_failure
		rmdir "$MNT"
		faults_clear
		mount_fs -o "$OPTS"
	else
		mount_fs -o "$OPTS"
		check_access "$1" "$t" "$(fs_list "$MNT")" "$ROOT_LS"
	fi
}

cold_tags() {
	local t got
	mount_fs -o "$OPTS"
	fault "$2"
	t=$(now_s)
	got=$(fs_list "$MNT/alpha")
	check_access "$1" "$t" "$got" "$ALPHA_LS"
}

cold_mappings() {
	local t got
	mount_fs -o "$OPTS"
	assert_equal "$(fs_list "$MNT/alpha")" "$ALPHA_LS"
	fault "$2"
	t=$(now_s)
	got=$(fs_list "$MNT/alpha/some")
	check_access "$1" "$t" "$got" "$SOME_LS"
}

# the stale data was counted and logged
check_stale_served() { # STALE-SERVED-BEFORE LOG-LINES-BEFORE
	[ "$(fs_stat cache.staleServed)" -gt "$1" ] || fail "cache.staleServed did not grow"
	[ "$(wc -l <"$FS_LOG")" -gt "$2" ] || fail "nothing was logged"
}

warm_datasets() {
	local t got stale lines
	wait_list "$MNT" "$ROOT_LS"
	# read the counters first: reading .lightly/stats looks up the root,
	# which could refresh the datasets before the fault is in place
	stale=$(fs_stat cache.staleServed)
	lines=$(wc -l <"$FS_LOG")
	api POST /v1/datasets '{"name": "gamma"}' >/dev/null
	sleep 1.2
	fault "$2"
	t=$(now_s)
	got=$(fs_list "$MNT")
	check_access "$1" "$t" "$got" ".lightly alpha beta gamma" "$ROOT_LS"
	faults_clear
	if [ "$(outcome "$1")" = fail ]; then
		check_stale_served "$stale" "$lines"
		# once the server is well again the news shows without any help
		wait_list "$MNT" ".lightly alpha beta gamma"
	fi
}

warm_tags() {
	local t got stale lines
	wait_list "$MNT/alpha" "$ALPHA_LS"
	seed_tag late-tag 0x2
	stale=$(fs_stat cache.staleServed)
	lines=$(wc -l <"$FS_LOG")
	sleep 1.2
	fault "$2"
	t=$(now_s)
	got=$(fs_list "$MNT/alpha")
	check_access "$1" "$t" "$got" ".lightly initial-tag late-tag some spare" "$ALPHA_LS"
	faults_clear
	if [ "$(outcome "$1")" = fail ]; then
		check_stale_served "$stale" "$lines"
		wait_list "$MNT/alpha" ".lightly initial-tag late-tag some spare"
	fi
}

# The names are append-only: they are fetched again when the dataset grew.
# A new sample in a new tag: the old tags keep their (stale) names, the new
# tag, with nothing cached, fails.
warm_mappings() {
	local t t0 got
	wait_list "$MNT/alpha/some" "$SOME_LS"
	curl -sS -X POST --data '{"fileNames": ["late/new.jpg"]}' \
		"$EMU_URL/_emulator/datasets/$DS/samples" >/dev/null
	seed_tag late-tag 0x20
	sleep 1.2
	fault "$2"
	t0=$(now_s)
	got=$(fs_list "$MNT/alpha/some")
	# whether or not the fault was met here: the old names
	assert_equal "$got" "$SOME_LS"
	assert_between "$(since "$t0")" "" "$LIMIT"
	t=$(now_s)
	got=$(fs_list "$MNT/alpha/late-tag")
	# the 429 may have been met by either access
	[ "$(outcome "$1")" = slow ] && t=$t0
	check_access "$1" "$t" "$got" "late"
	faults_clear
	wait_list "$MNT/alpha/late-tag" "late"
	assert_equal "$(fs_list "$MNT/alpha/initial-tag")" "a.jpg b.jpg e.jpg sub"
}

# seed_tag NAME HEX: a child of alpha's initial tag
seed_tag() {
	make_tag "$DS" "$1" "$2" >/dev/null
}

@test "datasets: 503 three times then OK is served after retries, cold (mount) and warm" { read_case datasets 503x3; }
@test "datasets: 429 with Retry-After 1 s is served after at least 1 s, cold and warm" { read_case datasets 429; }
@test "datasets: 500 forever fails the mount within the deadline cold, serves stale warm" { read_case datasets 500; }
@test "datasets: an answer slower than the deadline fails the mount in time cold, stale warm" { read_case datasets delay; }
@test "datasets: dropped connections are retried, cold and warm" { read_case datasets drop; }
@test "datasets: truncated answers are retried, cold and warm" { read_case datasets truncate; }
@test "datasets: answers always truncated fail the mount cold, stale warm" { read_case datasets truncate-always; }
@test "datasets: malformed JSON fails the mount cold, stale warm" { read_case datasets malformed; }
@test "datasets: wrong-typed JSON fails the mount cold, stale warm" { read_case datasets wrongtype; }

@test "tags: 503 three times then OK is served after retries, cold and warm" { read_case tags 503x3; }
@test "tags: 429 with Retry-After 1 s is served after at least 1 s, cold and warm" { read_case tags 429; }
@test "tags: 500 forever gives EIO within the deadline cold, stale data warm" { read_case tags 500; }
@test "tags: an answer slower than the deadline gives ETIMEDOUT/EIO in time cold, stale warm" { read_case tags delay; }
@test "tags: dropped connections are retried, cold and warm" { read_case tags drop; }
@test "tags: truncated answers are retried, cold and warm" { read_case tags truncate; }
@test "tags: answers always truncated give EIO cold, stale data warm" { read_case tags truncate-always; }
@test "tags: malformed JSON gives EIO cold, stale data warm" { read_case tags malformed; }
@test "tags: wrong-typed JSON gives EIO cold, stale data warm" { read_case tags wrongtype; }

@test "mappings: 503 three times then OK is served after retries, cold and warm" { read_case mappings 503x3; }
@test "mappings: 429 with Retry-After 1 s is served after at least 1 s, cold and warm" { read_case mappings 429; }
@test "mappings: 500 forever gives EIO within the deadline cold, old names warm" { read_case mappings 500; }
@test "mappings: an answer slower than the deadline gives ETIMEDOUT/EIO in time cold, old names warm" { read_case mappings delay; }
@test "mappings: dropped connections are retried, cold and warm" { read_case mappings drop; }
@test "mappings: truncated answers are retried, cold and warm" { read_case mappings truncate; }
@test "mappings: answers always truncated give EIO cold, old names warm" { read_case mappings truncate-always; }
@test "mappings: malformed JSON gives EIO cold, old names warm" { read_case mappings malformed; }
@test "mappings: wrong-typed JSON gives EIO cold, old names warm" { read_case mappings wrongtype; }

# ---- writes ----

mask_of() { # tag name -> bitMaskData on the server
	api GET "/v1/datasets/$DS/tags" | py "print(next((t['bitMaskData'] for t in d if t['name']=='$1'), 'none'))"
}
tags_named() { # name -> how many tags of alpha the server has with it
	api GET "/v1/datasets/$DS/tags" | py "print(sum(t['name'] == '$1' for t in d))"
}
# wait_server FUNCTION ARG WANT: until FUNCTION ARG prints WANT (10 s at most)
wait_server() {
	for _ in $(seq 1 50); do
		[ "$("$1" "$2")" = "$3" ] && return 0
		sleep 0.2
	done
	assert_equal "$("$1" "$2")" "$3"
}
# write_access FAULT OP PATH: the access under the fault (already injected)
# and its timing; prints what it gave
write_access() {
	local t got
	t=$(now_s)
	got=$(fs_try "$2" "$3")
	faults_clear
	check_access "$1" "$t" "!$got" "!OK"
	echo "$got"
}

# write_case FAULT: rm + fsync (PUT of the whole mask), mkdir (POST), rmdir
# (DELETE), each under FAULT, and what the server holds after.
write_case() {
	local f=$1 got
	local spec_put spec_post spec_del
	spec_put="{\"match\": \"$(route_of put)\", $(fault_fields "$f")}"
	spec_post="{\"match\": \"$(route_of post)\", $(fault_fields "$f")}"
	spec_del="{\"match\": \"$(route_of delete)\", $(fault_fields "$f")}"
	mount_fs -o "$OPTS,flush_delay_ms=60000"
	assert_equal "$(fs_list "$MNT/alpha/some")" "$SOME_LS"

	# PUT: the edit is in the mount at once, on the server after fsync
	assert_equal "$(fs_try rm "$MNT/alpha/some/a.jpg")" OK
	fault "$spec_put"
	got=$(write_access "$f" fsync "$MNT/alpha/some")
	if [ "$(outcome "$f")" = fail ]; then
		[ "$f" = delay ] || assert_equal "$(mask_of some)" 0x5
		# the edit is kept, and lands once the server answers again
		assert_equal "$(fs_try fsync "$MNT/alpha/some")" OK
	fi
	assert_equal "$(mask_of some)" 0x4
	assert_equal "$(fs_list "$MNT/alpha/some")" "sub"

	# POST: a create is never sent twice unless the first did not land
	fault "$spec_post"
	got=$(write_access "$f" mkdir "$MNT/alpha/made")
	case $f in
	500)
		assert_equal "$(tags_named made)" 0
		assert_equal "$(fs_list "$MNT/alpha")" "$ALPHA_LS" ;;
	delay)
		# the slow request still lands on the server after the deadline;
		# the mount learns of it on its next refresh
		wait_server tags_named made 1
		wait_list "$MNT/alpha" ".lightly initial-tag made some spare" ;;
	*)
		assert_equal "$(tags_named made)" 1
		assert_equal "$(fs_list "$MNT/alpha")" ".lightly initial-tag made some spare" ;;
	esac

	# DELETE
	local before
	before=$(fs_list "$MNT/alpha")
	fault "$spec_del"
	got=$(write_access "$f" rmdir "$MNT/alpha/spare")
	case $f in
	500)
		assert_equal "$(tags_named spare)" 1
		assert_equal "$(fs_list "$MNT/alpha")" "$before" ;;
	delay)
		wait_server tags_named spare 0
		wait_list "$MNT/alpha" "${before/ spare/}" ;;
	*)
		assert_equal "$(tags_named spare)" 0
		assert_equal "$(fs_list "$MNT/alpha")" "${before/ spare/}" ;;
	esac
	assert_alive
}

@test "writes: 503 three times then OK: PUT, POST and DELETE land once, after retries" { write_case 503x3; }
@test "writes: 429 with Retry-After 1 s: PUT, POST and DELETE land after at least 1 s" { write_case 429; }
@test "writes: 500 forever: EIO in time, nothing on the server, the edit kept for later" { write_case 500; }
@test "writes: answers slower than the deadline: ETIMEDOUT/EIO in time, server state shows after" { write_case delay; }
@test "writes: dropped connections: PUT and DELETE resent, POST verified then resent, each lands once" { write_case drop; }
@test "writes: truncated answers: the writes took effect and are not repeated" { write_case truncate; }

# ---- stale-if-error ----

@test "a failed refresh is not retried on every access, and stale data is counted and logged" {
	mount_fs -o timeout=2,cache_ttl=4
	assert_equal "$(fs_list "$MNT/alpha")" "$ALPHA_LS"
	sleep 4.2
	fault '{"match": "GET /v1/datasets/{datasetId}/tags", "status": 500}'
	local lines
	lines=$(wc -l <"$FS_LOG")
	assert_equal "$(fs_list "$MNT/alpha")" "$ALPHA_LS"
	[ "$(wc -l <"$FS_LOG")" -gt "$lines" ]
	stats_reset
	local t
	t=$(now_s)
	for _ in 1 2 3 4 5; do
		assert_equal "$(fs_list "$MNT/alpha")" "$ALPHA_LS"
		assert_equal "$(fs_try stat "$MNT/alpha/some/a.jpg")" OK
	done
	# at most one more try in those few seconds, not one per access
	[ "$(stat_count 'GET /v1/datasets/{datasetId}/tags')" -le 1 ]
	assert_between "$(since "$t")" "" 5
	[ "$(fs_stat cache.staleServed)" -ge 1 ]
	assert_alive
}

@test "data older than max_stale is not served when the refresh fails" {
	mount_fs -o timeout=2,cache_ttl=1,max_stale=5
	assert_equal "$(fs_list "$MNT/alpha")" "$ALPHA_LS"
	sleep 1.2
	fault '{"match": "GET /v1/datasets/{datasetId}/tags", "status": 500}'
	# younger than max_stale: served
	assert_equal "$(fs_list "$MNT/alpha")" "$ALPHA_LS"
	# older: EIO.  Asked until it comes (the data's age is not this
	# shell's to control on a loaded machine), and never for ever
	local t got end=$(($(date +%s) + 20))
	while :; do
		t=$(now_s)
		got=$(fs_list "$MNT/alpha")
		[ "$got" = "!EIO" ] && break
		assert_equal "$got" "$ALPHA_LS"
		[ "$(date +%s)" -lt "$end" ] || fail "still served 20 s after the failed refresh (max_stale=5)"
		sleep 0.5
	done
	assert_between "$(since "$t")" "" 5
	faults_clear
	wait_list "$MNT/alpha" "$ALPHA_LS"
}

# ---- a stalled server never blocks the cache ----

@test "a listing stuck on a stalled server does not hold up what the cache can answer" {
	mount_fs -o timeout=8,cache_ttl=1
	find "$MNT" >/dev/null
	sleep 1.2
	stats_reset
	fault '{"match": "GET /v1/datasets/{datasetId}/tags", "delay_ms": 4000, "count": 1}'
	fs_list "$MNT/alpha" >"$BATS_TEST_TMPDIR/stuck" &
	local stuck=$!
	for _ in $(seq 1 50); do
		[ "$(stat_count 'GET /v1/datasets/{datasetId}/tags')" -ge 1 ] && break
		sleep 0.1
	done
	[ "$(stat_count 'GET /v1/datasets/{datasetId}/tags')" -ge 1 ]
	# the tags request of alpha is now on the wire for 4 s
	run python3 - "$MNT" <<'PY'
import os, sys, time
m = sys.argv[1]
for op, p in [("stat", "alpha/some/a.jpg"), ("stat", "alpha/initial-tag/sub/c.jpg"),
              ("ls", "alpha/some"), ("stat", "alpha/spare"), ("ls", "beta/initial-tag"),
              ("cat", "alpha/.lightly/dataset.json"), ("cat", ".lightly/stats")]:
    t = time.monotonic()
    if op == "stat": os.stat(os.path.join(m, p))
    elif op == "ls": os.listdir(os.path.join(m, p))
    else: open(os.path.join(m, p), "rb").read()
    took = time.monotonic() - t
    print("%s %s %.3f" % (op, p, took))
    assert took < 1.0, "%s %s took %.2f s" % (op, p, took)
PY
	assert_success
	wait "$stuck"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/stuck")" "$ALPHA_LS"
	assert_alive
}

# ---- the server goes away and comes back ----

@test "the server killed and restarted on its port needs nothing from the user" {
	mount_fs -o timeout=2,cache_ttl=1,flush_delay_ms=60000
	find "$MNT" >/dev/null
	assert_equal "$(fs_try rm "$MNT/alpha/some/a.jpg")" OK
	emu_kill
	local t
	# what is cached answers, fresh or stale; every access within two
	# deadlines (a dataset and its tags are two refreshes) plus a margin
	# wide enough for a loaded 2-core machine (a hang would take forever)
	sleep 1.2
	for p in "$MNT/alpha/some" "$MNT/alpha" "$MNT"; do
		t=$(now_s)
		fs_list "$p" >>"$BATS_TEST_TMPDIR/away"
		echo "took $(since "$t")" >>"$BATS_TEST_TMPDIR/away"
		assert_between "$(since "$t")" "" 20
	done
	assert_equal "$(grep -v took "$BATS_TEST_TMPDIR/away")" "$(printf '%s\n' "sub" "$ALPHA_LS" "$ROOT_LS")"
	# (opening the tag refreshes its dataset and tags first: three requests)
	t=$(now_s)
	[[ "$(fs_try fsync "$MNT/alpha/some")" == E* ]]
	assert_between "$(since "$t")" "" 17
	assert_alive
	emu_restart
	make_tag "$DS" while-away 0x1 >/dev/null
	# the pending edit lands; the news shows; nothing was remounted
	wait_list "$MNT/alpha" ".lightly initial-tag some spare while-away"
	assert_equal "$(fs_try fsync "$MNT/alpha/some")" OK
	assert_equal "$(mask_of some)" 0x4
	assert_equal "$(fs_list "$MNT/alpha/while-away")" "a.jpg"
	assert_alive
}

# try_timed OP PATH: fs_try, then how long it took
try_timed() {
	local t
	t=$(now_s)
	echo "$(fs_try "$1" "$2") $(since "$t")"
}

@test "a read and a listing go through a 10 s outage (connections refused) within the deadline" {
	mount_fs -o timeout=20
	emu_kill
	# both start while the server is gone: cold, each needs the tags, the
	# mapping pages and (the read) a read URL and the bytes
	try_timed cat "$MNT/alpha/some/a.jpg" >"$BATS_TEST_TMPDIR/cat" &
	local cat=$!
	fs_list "$MNT/beta/initial-tag" >"$BATS_TEST_TMPDIR/ls" &
	local ls=$!
	sleep 10
	emu_restart
	wait_exit "$cat" 30
	wait_exit "$ls" 30
	[[ "$(cat "$BATS_TEST_TMPDIR/cat")" == "OK "* ]] ||
		fail "cat: $(cat "$BATS_TEST_TMPDIR/cat")"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/ls")" "x.jpg"
	assert_equal "$(fs_list "$MNT/alpha/some")" "$SOME_LS"
	assert_alive
}

@test "a read fails with EIO around the deadline when the server stays away longer" {
	mount_fs -o timeout=4
	# the file is known, its bytes and read URL are not
	assert_equal "$(fs_try stat "$MNT/alpha/some/a.jpg")" OK
	emu_kill
	local out
	out=$(try_timed cat "$MNT/alpha/some/a.jpg")
	assert_equal "${out% *}" EIO
	# kept trying close to the deadline, and gave up not long after it
	assert_between "${out#* }" 3 12
	assert_alive
}

# ---- what the server sends ----

# tags_body EXTRA-JSON: alpha's tags as the server has them, plus more
tags_body() {
	api GET "/v1/datasets/$DS/tags" | python3 -c '
import json, sys
tags = json.load(sys.stdin)
base = next(t for t in tags if t["name"] == "initial-tag")
extra = json.loads(sys.argv[1])
for i, e in enumerate(extra):
    t = dict(base, id="%024x" % (0xbad000 + i), prevTagId=base["id"], changes=[])
    t.update(e)
    tags.append(t)
print(json.dumps({"match": "GET /v1/datasets/{datasetId}/tags", "body": tags}))' "$1"
}

@test "invalid bitmasks give EIO on that tag only, never a crash" {
	local long
	long="0x1$(printf '0%.0s' $(seq 1 3000))"
	fault "$(tags_body "[
	  {\"name\": \"upper\", \"bitMaskData\": \"0xA\"},
	  {\"name\": \"upper-x\", \"bitMaskData\": \"0X5\"},
	  {\"name\": \"leading-zero\", \"bitMaskData\": \"0x05\"},
	  {\"name\": \"too-long\", \"bitMaskData\": \"0x3f\"},
	  {\"name\": \"far-too-long\", \"bitMaskData\": \"$long\"},
	  {\"name\": \"no-prefix\", \"bitMaskData\": \"5\"},
	  {\"name\": \"not-hex\", \"bitMaskData\": \"0xzz\"},
	  {\"name\": \"empty-mask\", \"bitMaskData\": \"\"},
	  {\"name\": \"negative\", \"bitMaskData\": \"-0x1\"}]")"
	mount_fs -o "$OPTS"
	local t bad
	for bad in upper upper-x leading-zero too-long far-too-long no-prefix not-hex empty-mask negative; do
		t=$(now_s)
		assert_equal "$bad: $(fs_list "$MNT/alpha/$bad")" "$bad: !EIO"
		assert_between "$(since "$t")" "" "$LIMIT"
	done
	assert_equal "$(fs_list "$MNT/alpha/some")" "$SOME_LS"
	assert_equal "$(fs_list "$MNT/alpha/initial-tag")" "a.jpg b.jpg e.jpg sub"
	assert_alive
}

# every entry of every directory under the mount has a name the kernel can
# show, once; nothing leads outside the mount
check_tree_sane() {
	run python3 - "$MNT" <<'PY'
import json, os, sys
m = sys.argv[1]
def sane(d):
    try:
        names = os.listdir(d)
    except OSError:
        return []  # a directory may fail (EIO); it must not lie
    assert len(names) == len(set(names)), ("duplicates", d, names)
    for n in names:
        assert n and n not in (".", "..") and "/" not in n and "\0" not in n, (d, n)
        assert len(n.encode()) <= 255, (d, n)
    return names
assert ".lightly" in sane(m)
json.load(open(os.path.join(m, ".lightly", "stats")))
for dirpath, dirs, files in os.walk(m):
    sane(dirpath)
    assert os.path.realpath(dirpath).startswith(os.path.realpath(m) + os.sep) or \
        os.path.realpath(dirpath) == os.path.realpath(m), dirpath
PY
	assert_success
}

@test "hostile sample, tag and dataset names from the server never escape or crash" {
	seed_account '[{"name": "hostile", "samples": ["/etc/shadow", "a/./b.jpg", "x/",
	  "back\\slash.jpg", "new\nline.jpg", "%2e%2e/enc.jpg", "ok.jpg", "../up.jpg"]}]' >/dev/null
	mount_fs -o "$OPTS"
	check_tree_sane
	run fs_list "$MNT/hostile/initial-tag"
	[[ "$output" == *ok.jpg* ]]
	# tags and datasets with hostile names, from the next refresh on
	local long
	long=$(printf 'n%.0s' $(seq 1 300))
	fault "$(tags_body "[{\"name\": \"..\"}, {\"name\": \".\"}, {\"name\": \"\"},
	  {\"name\": \"a/b\"}, {\"name\": \"../../../tmp/escape\"}, {\"name\": \".lightly\"},
	  {\"name\": \"x\\ny\"}, {\"name\": \"$long\"}, {\"name\": \"some\"}]")"
	api GET /v1/datasets | python3 -c '
import json, sys
ds = json.load(sys.stdin)
base = ds[0]
for i, n in enumerate(["..", ".", "", "a/b", "/", ".lightly", "../../tmp", "n" * 300]):
    ds.append(dict(base, id="%024x" % (0xbad100 + i), name=n))
print(json.dumps({"match": "GET /v1/datasets", "body": ds}))' >"$BATS_TEST_TMPDIR/ds-fault"
	fault "@$BATS_TEST_TMPDIR/ds-fault"
	sleep 1.2
	check_tree_sane
	[ ! -e /tmp/escape ]
	run fs_list "$MNT/alpha"
	[[ "$output" == *initial-tag* ]]
	faults_clear
	assert_alive
}

@test "an answer over max_response_mb gives EIO and a log line; the daemon stays up" {
	# a valid tags answer of ~2 MB
	api GET "/v1/datasets/$DS/tags" | python3 -c '
import json, sys
tags = json.load(sys.stdin)
tags[0]["padding"] = "x" * (2 * 1024 * 1024)
print(json.dumps({"match": "GET /v1/datasets/{datasetId}/tags", "body": tags}))' \
		>"$BATS_TEST_TMPDIR/big"
	mount_fs -o "$OPTS,max_response_mb=1"
	fault "@$BATS_TEST_TMPDIR/big"
	local lines t
	lines=$(wc -l <"$FS_LOG")
	t=$(now_s)
	assert_equal "$(fs_list "$MNT/alpha")" "!EIO"
	assert_between "$(since "$t")" "" "$LIMIT"
	[ "$(wc -l <"$FS_LOG")" -gt "$lines" ]
	assert_alive
	unmount_fs
	# the same answer under a larger bound is fine
	mount_fs -o "$OPTS,max_response_mb=4"
	assert_equal "$(fs_list "$MNT/alpha")" "$ALPHA_LS"
}

# ---- signals ----

@test "SIGTERM and SIGINT unmount cleanly after flushing pending edits, through a flaky server" {
	local sig
	for sig in TERM INT; do
		mount_fs_sigint -o "$OPTS,flush_delay_ms=60000"
		if [ $sig = TERM ]; then
			assert_equal "$(fs_try rm "$MNT/alpha/some/a.jpg")" OK
		else
			assert_equal "$(fs_try ln "$MNT/alpha/initial-tag/b.jpg" "$MNT/alpha/some/b.jpg")" OK
		fi
		fault '{"match": "PUT /v1/datasets/{datasetId}/tags/{tagId}", "status": 503, "count": 2}'
		kill -s $sig "$FS_PID"
		wait_exit "$FS_PID" # exit status 0
		FS_PID=""
		run mountpoint -q "$MNT"
		assert_failure
		unmount_fs
		faults_clear
	done
	assert_equal "$(mask_of some)" 0x6
}
