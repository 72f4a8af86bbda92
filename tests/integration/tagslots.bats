#!/usr/bin/env bats
# A tag deleted on the server gives its slot (its inode numbers) back once
# the kernel has forgotten them, so a mount whose tags a script makes and
# deletes stays the same size; a slot the kernel still holds (a shell inside
# the deleted tag) is never given to another tag.

load helpers

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
}

setup() {
	emu_start
	DS_ID=$(make_dataset churn a.png b.png c.png)
	mount_fs -o cache_ttl=0.2
}

teardown() {
	[ -z "${HOLD_PID:-}" ] || { kill "$HOLD_PID" 2>/dev/null; wait "$HOLD_PID" 2>/dev/null || true; }
	unmount_fs
	emu_stop
}

# until .lightly/stats shows KEY (e.g. cache.tagSlotsFree) at least N, reading
# it (each read ends an operation, where dead slots are reaped); 20 s at most
wait_stat_ge() {
	local got
	for _ in $(seq 1 100); do
		got=$(fs_stat "$1")
		[ "$got" -ge "$2" ] && return 0
		sleep 0.2
	done
	fail "$1 is $got, expected at least $2"
}

# make tag NAME on the server and wait until the mount lists it
tag_shown() {
	make_tag "$DS_ID" "$1" 0x3 >/dev/null
	for _ in $(seq 1 50); do
		[ -d "$MNT/churn/$1" ] && return 0
		sleep 0.2
	done
	fail "$MNT/churn lists $(fs_list "$MNT/churn"), not $1"
}

# delete tag NAME on the server and wait until the mount no longer shows it
tag_gone() {
	api DELETE "/v1/datasets/$DS_ID/tags/$(tag_id "$DS_ID" "$1")" >/dev/null
	for _ in $(seq 1 50); do
		[ -e "$MNT/churn/$1" ] || return 0
		sleep 0.2
	done
	fail "$MNT/churn/$1 is still there after its delete"
}

@test "a tag deleted on the server gives its inode number to the next new tag" {
	local first slots
	tag_shown t-0
	first=$(stat -c %i "$MNT/churn/t-0")
	tag_gone t-0
	wait_stat_ge cache.tagSlotsFree 1
	tag_shown t-1
	[ "$(stat -c %i "$MNT/churn/t-1")" = "$first" ] ||
		fail "t-1 is inode $(stat -c %i "$MNT/churn/t-1"), not t-0's slot $first"
	# and 30 more made and deleted one after another hold no more slots
	# than the tags there are at once (initial-tag and one)
	for i in $(seq 2 31); do
		tag_gone "t-$((i - 1))"
		wait_stat_ge cache.tagSlotsFree 1
		tag_shown "t-$i"
	done
	slots=$(fs_stat cache.tagSlots)
	[ "$slots" -le 3 ] || fail "31 tags made and deleted left $slots tag slots (2 live tags)"
	[ "$(fs_list "$MNT/churn")" = ".lightly initial-tag t-31" ] || fail "churn lists $(fs_list "$MNT/churn")"
	[ "$(fs_list "$MNT/churn/t-31")" = "a.png b.png" ]
}

@test "a deleted tag a shell is inside keeps its number from every new tag" {
	local held i ino
	tag_shown held
	held=$(stat -c %i "$MNT/churn/held")
	# a process whose working directory it is: the kernel holds its inode
	(cd "$MNT/churn/held" && exec sleep 120) &
	HOLD_PID=$!
	for _ in $(seq 1 50); do
		[ "$(readlink "/proc/$HOLD_PID/cwd")" = "$MNT/churn/held" ] && break
		sleep 0.1
	done
	tag_gone held
	for i in $(seq 1 5); do
		tag_shown "n-$i"
		ino=$(stat -c %i "$MNT/churn/n-$i")
		[ "$ino" != "$held" ] || fail "n-$i got inode $ino of the deleted tag a process holds"
	done
	[ "$(fs_stat cache.tagSlotsDead)" -ge 1 ]
	# the deleted directory lists nothing it could mix up with n-*
	run ls "/proc/$HOLD_PID/cwd/"
	[ "$output" = "" ] || [ "$status" -ne 0 ]
	kill "$HOLD_PID"
	wait "$HOLD_PID" 2>/dev/null || true
	HOLD_PID=
	wait_stat_ge cache.tagSlotsFree 1
}
