#!/usr/bin/env bats
# scripts/demo.sh: the guided tour runs for real, `stop` leaves nothing
# behind whatever state the last run died in, and a new mountpoint moves a
# running demo.  Its own state directory, so a user's demo is untouched.

load helpers

setup() {
	export LIGHTLYFS_DEMO_DIR="$BATS_TEST_TMPDIR/demo"
	export LIGHTLYFS_BIN
	M1="$BATS_TEST_TMPDIR/m1"
	M2="$BATS_TEST_TMPDIR/m2"
}

teardown() {
	"$ROOT/scripts/demo.sh" stop >/dev/null 2>&1 || true
	for m in "$M1" "$M2"; do
		grep -qsF " $m fuse" /proc/mounts && fusermount3 -uz "$m"
	done
	return 0
}

demo() { "$ROOT/scripts/demo.sh" "$@"; }
mounted() { grep -qsF " $1 fuse" /proc/mounts; }
assert_all_gone() { # no mount, no daemon, no emulator of this demo
	! mounted "$M1" || fail "$M1 still mounted"
	! mounted "$M2" || fail "$M2 still mounted"
	for p in "$@"; do
		! kill -0 "$p" 2>/dev/null || fail "pid $p still runs"
	done
}

@test "the demo's tour: the tree, a tag made with mkdir, samples linked with ln, the stats, how to stop" {
	run demo "$M1"
	assert_success
	assert_output --partial "1. The tree"
	assert_output --partial "$ mkdir "
	assert_output --partial "picked-in-demo"
	assert_output --partial "$ ln "
	assert_output --partial '"api":{"requests"'
	assert_output --partial "scripts/demo.sh stop"
	[ "$(find "$M1" -path '*picked-in-demo/*' -type f | wc -l)" -eq 3 ]
	local fs emu
	fs=$(cat "$LIGHTLYFS_DEMO_DIR/fs.pid")
	emu=$(cat "$LIGHTLYFS_DEMO_DIR/emulator.pid")
	run demo stop
	assert_success
	assert_output "demo stopped"
	sleep 0.5
	assert_all_gone "$fs" "$emu"
}

@test "stop after kill -9 of the daemon removes the dead mount and the emulator; the next demo works" {
	demo "$M1" >/dev/null
	local fs emu
	fs=$(cat "$LIGHTLYFS_DEMO_DIR/fs.pid")
	emu=$(cat "$LIGHTLYFS_DEMO_DIR/emulator.pid")
	kill -9 "$fs"
	sleep 0.3
	run demo stop
	assert_success
	assert_all_gone "$fs" "$emu"
	run demo "$M1"
	assert_success
	mountpoint -q "$M1"
	ls "$M1" >/dev/null
}

@test "stop after the emulator died, and a second stop, do no harm" {
	demo "$M1" >/dev/null
	kill -9 "$(cat "$LIGHTLYFS_DEMO_DIR/emulator.pid")"
	run demo stop
	assert_success
	run demo stop
	assert_success
	assert_all_gone
}

@test "demo.sh /other/dir while a demo runs moves it there with its account: what was curated stays" {
	demo "$M1" >/dev/null
	local emu ds
	emu=$(cat "$LIGHTLYFS_DEMO_DIR/emulator.pid")
	ds=$(find "$M1" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%f\n' | LC_ALL=C sort | head -1)
	mkdir "$M1/$ds/kept-across-move"
	run demo "$M2"
	assert_success
	assert_output "The demo moved from $M1 to $M2: the same account, with what was curated in it"
	if mounted "$M1"; then fail "$M1 still mounted"; fi
	mountpoint -q "$M2"
	kill -0 "$emu" || fail "the emulator (the account) was stopped"
	run ls "$M2/$ds"
	assert_line kept-across-move
	assert_line picked-in-demo
	# the same place again: nothing to move
	run demo "$M2"
	assert_success
	assert_output --partial "mounted at $M2 already"
}
