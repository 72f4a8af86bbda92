#!/usr/bin/env bats
# The mount over the network users are on (issue 22): TLS 1.3 and HTTP/2 at
# api.test, storage at storage.test (another name, certificate and CA; also
# an HTTP/1.1-only host, as S3), through bench/wan/bed.sh's link at RTT 0
# and 40 ms.  The oracle is the emulator reached undelayed ($WAN_EMU) and
# curl of read URLs through nginx's undelayed address.  The one assertion
# on time is the link's own: a TCP connect costs at least 0.9 RTT.

# Each @test runs in a subshell of its own (SC2030/SC2031).
# shellcheck disable=SC2030,SC2031
load helpers

BED="$ROOT/bench/wan/bed.sh"
DS=tls-set

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	[ "$(id -u)" = 0 ] || skip "the bed needs root (network namespaces, TUN)"
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	WAN_BED=$("$BED" up --dir "$BATS_FILE_TMPDIR/bed" -- --blob-sizes varied \
		--dataset "$DS:12" | tail -1)
	export WAN_BED
}

teardown_file() {
	[ -z "${WAN_BED:-}" ] || "$BED" down "$WAN_BED"
}

setup() {
	eval "$("$BED" env "$WAN_BED")"
	EMU_URL=$WAN_EMU
	TOKEN=$WAN_TOKEN
	export EMU_DIR=$BATS_TEST_TMPDIR # make_dataset's scratch
}

teardown() {
	unmount_fs
	"$BED" rtt "$WAN_BED" 0
}

# mnt RESOLVE [lightlyfs options...]: the mount, through the link
mnt() {
	local resolve=$1
	shift
	# a cache of its own: a second mount of a test fetches anew
	mount_fs "LIGHTLY_SERVER_LOCATION=$WAN_API" "LIGHTLYFS_RESOLVE=$resolve" \
		"XDG_CACHE_HOME=$(mktemp -d "$BATS_TEST_TMPDIR/cache.XXXXXX")" \
		-o "ca_certs=$WAN_CA" "$@"
}

# connect_s: curl's time_connect to api.test through the link, in seconds
connect_s() {
	curl -sS -o /dev/null --cacert "$WAN_CA" \
		--resolve "api.test:443:10.213.$WAN_RUN.2" \
		-w '%{time_connect}' https://api.test/_emulator/health
}

# oracle_get DS-ID SAMPLE-ID OUT: the sample's bytes as its read URL serves
# them, fetched undelayed through nginx
oracle_get() {
	local url
	url=$(api GET "/v1/datasets/$1/samples/$2/readurl" | py 'print(d)')
	case $url in https://storage.test/*) ;; *) fail "read URL $url" ;; esac
	curl -sS --fail --cacert "$WAN_CA" --resolve "${WAN_DIRECT_RESOLVE#*,}" \
		-o "$3" "$url"
}

no_token_in() {
	if grep -q "$TOKEN" "$1"; then fail "$1 holds the token"; fi
}

# core_ops TAG-SUFFIX STORAGE-PROTOCOL: ls of datasets and tags, ls -l of a
# tag, cat compared byte for byte, mkdir/rmdir, ln + sync, on the mount MNT
core_ops() {
	local sfx=$1 want=$2 ds samples big small t from
	ds=$(dataset_id "$DS")
	from=$(wc -l <"$WAN_ACCESS_LOG")

	run ls "$MNT"
	assert_output "$DS"
	run ls "$MNT/$DS"
	assert_output "$(api GET "/v1/datasets/$ds/tags" | py 'print("\n".join(sorted(t["name"] for t in d)))')"

	# ls -l: every sample with its listed size
	samples="$BATS_TEST_TMPDIR/samples"
	api GET "/v1/datasets/$ds/samples" |
		py 'print("\n".join("%s %d %s" % (s["fileName"], s["metaData"]["sizeInBytes"], s["id"]) for s in d))' |
		LC_ALL=C sort >"$samples"
	run bash -c "LC_ALL=C ls -l '$MNT/$DS/initial-tag' | awk 'NR > 1 { print \$9, \$5 }'"
	assert_success
	assert_output "$(cut -d' ' -f1,2 "$samples")"

	# cat: the biggest (ranged, read-ahead) and the smallest sample
	big=$(sort -k2,2n "$samples" | tail -1)
	small=$(sort -k2,2n "$samples" | head -1)
	local name size id
	for s in "$big" "$small"; do
		read -r name size id <<<"$s"
		oracle_get "$ds" "$id" "$BATS_TEST_TMPDIR/want"
		cat "$MNT/$DS/initial-tag/$name" >"$BATS_TEST_TMPDIR/got"
		cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
		[ "$(stat -c %s "$BATS_TEST_TMPDIR/got")" = "$size" ]
	done

	# mkdir + rmdir of a tag, seen on the server
	t="tls-tmp-$sfx"
	mkdir "$MNT/$DS/$t"
	api GET "/v1/datasets/$ds/tags" | py "assert '$t' in [x['name'] for x in d]"
	rmdir "$MNT/$DS/$t"
	api GET "/v1/datasets/$ds/tags" | py "assert '$t' not in [x['name'] for x in d]"

	# ln + sync, seen on the server
	t="tls-ln-$sfx"
	mkdir "$MNT/$DS/$t"
	read -r name size id <<<"$small"
	ln "$MNT/$DS/initial-tag/$name" "$MNT/$DS/$t/"
	run fs_try fsync "$MNT/$DS/$t" # sync(1) of the tag
	assert_output OK
	run server_filenames "$ds" "$(tag_id "$ds" "$t")"
	assert_output "$name"

	# what went where, and how: the token never to storage; nginx's log
	# of the link's addresses (10.213.N.x) holds the mount's requests
	run curl -sS "$EMU_URL/_emulator/stats/storage"
	echo "$output" | py 'assert d["withToken"] == 0 and d["withAuthorization"] == 0, d'
	tail -n +"$((from + 1))" "$WAN_ACCESS_LOG" |
		awk '$2 ~ /^10\.213\./ { print $1, $5 }' | sort | uniq -c >"$BATS_TEST_TMPDIR/access"
	echo "$sfx: $(tr -s ' \n' ' ' <"$BATS_TEST_TMPDIR/access")" >&3
	run awk '$2 == "api.test" { print $3 }' "$BATS_TEST_TMPDIR/access"
	assert_output --regexp 'HTTP/(2.0|1.1)'
	run awk '$2 == "storage.test" { print $3 }' "$BATS_TEST_TMPDIR/access"
	assert_output --regexp 'HTTP/(2.0|1.1)'
	# the HTTP/1.1-only host never speaks HTTP/2
	if [ "$want" = HTTP/1.1 ]; then
		refute_output --partial "HTTP/2.0"
	fi
	no_token_in "$FS_LOG"
	assert_alive
}

@test "the link's delay: a TCP connect to api.test costs the round trip asked for" {
	local c
	c=$(connect_s)
	echo "RTT 0: time_connect $c s" >&3
	assert_between "$c" "" 0.5
	"$BED" rtt "$WAN_BED" 40
	c=$(connect_s)
	echo "RTT 40: time_connect $c s" >&3
	assert_between "$c" 0.036 10
}

@test "core operations at RTT 0: TLS 1.3, HTTP/2 to the API and to storage on another name and CA" {
	mnt "$WAN_RESOLVE"
	core_ops h2 HTTP/2.0
}

@test "core operations at RTT 0 with an HTTP/1.1-only storage host" {
	mnt "$WAN_RESOLVE_H1"
	core_ops h1 HTTP/1.1
}

@test "core operations at RTT 40 ms, HTTP/2 storage and HTTP/1.1 storage" {
	"$BED" rtt "$WAN_BED" 40
	mnt "$WAN_RESOLVE"
	core_ops d2 HTTP/2.0
	unmount_fs
	mnt "$WAN_RESOLVE_H1"
	core_ops d1 HTTP/1.1
}

@test "exports through the front end: an image link opens at https://api.test, the zip streams over HTTP/2" {
	local x url name
	mnt "$WAN_RESOLVE"
	x="$MNT/$DS/.lightly/exports"
	url=$(sed -n 1p "$x/initial-tag.readurls.txt")
	name=$(sed -n 1p "$x/initial-tag.filenames.txt")
	case $url in https://api.test/v1/*) ;; *) fail "image link $url" ;; esac
	curl -sS --fail -L --cacert "$WAN_CA" --resolve "${WAN_DIRECT_RESOLVE%%,*}" \
		--resolve "${WAN_DIRECT_RESOLVE#*,}" -o "$BATS_TEST_TMPDIR/img" "$url"
	cmp "$BATS_TEST_TMPDIR/img" "$MNT/$DS/initial-tag/$name"
	cp "$x/initial-tag.zip" "$BATS_TEST_TMPDIR/t.zip"
	unzip -tq "$BATS_TEST_TMPDIR/t.zip"
	unzip -p "$BATS_TEST_TMPDIR/t.zip" "$name" | cmp - "$MNT/$DS/initial-tag/$name"
	no_token_in "$FS_LOG"
	assert_alive
}

# One transport for the API and storage (issue 22): the copy's requests
# in flight are HTTP/2 streams on the connections already open, not one
# connection each; the pooled handles that carried them are used again
# (libcurl 7.88 refused some options on a handle after an HTTP/2 transfer).
@test "a cold cp -r over HTTP/2: every byte right, at most 2 connections per host" {
	local ds from name size id
	mnt "$WAN_RESOLVE"
	ds=$(dataset_id "$DS")
	ls -l "$MNT/$DS/initial-tag" >/dev/null
	from=$(wc -l <"$WAN_ACCESS_LOG")
	cp -r "$MNT/$DS/initial-tag" "$BATS_TEST_TMPDIR/cp"
	api GET "/v1/datasets/$ds/samples" |
		py 'print("\n".join("%s %d %s" % (s["fileName"], s["metaData"]["sizeInBytes"], s["id"]) for s in d))' |
		while read -r name size id; do
			oracle_get "$ds" "$id" "$BATS_TEST_TMPDIR/want"
			cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/cp/$name"
		done
	run python3 "$ROOT/bench/wan/tools.py" conns "$WAN_ACCESS_LOG" "$from"
	echo "connections: $output" >&3
	assert_output --regexp '^api\.test=[12] storage\.test=[12]$'
	no_token_in "$FS_LOG"
	assert_alive
}

@test "a storage host whose certificate the ca_certs CA did not sign: EIO and a log line, no crash" {
	local ds f
	mnt "$WAN_RESOLVE_ROGUE"
	ds=$(dataset_id "$DS")
	f=$(find "$MNT/$DS/initial-tag" -type f -printf '%f\n' | head -1)
	run fs_try cat "$MNT/$DS/initial-tag/$f"
	assert_output EIO
	assert_alive
	grep -Ei 'certificate|SSL' "$FS_LOG"
	no_token_in "$FS_LOG"
	# the API, on a certificate the CA did sign, still answers
	run ls "$MNT/$DS"
	assert_output --partial initial-tag
}

@test "an API host whose certificate the ca_certs CA did not sign: the mount is refused with a reason" {
	run_mount "LIGHTLY_SERVER_LOCATION=$WAN_API" "LIGHTLYFS_RESOLVE=$WAN_RESOLVE" \
		-o "ca_certs=$WAN_CA_ROGUE"
	assert_failure
	assert_output --regexp '[Cc]ertificate|SSL|TLS'
	refute_output --partial "$TOKEN"
	run mountpoint -q "$MNT"
	assert_failure
}
