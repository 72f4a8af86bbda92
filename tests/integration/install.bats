#!/usr/bin/env bats
# What `cmake --install` puts on a machine, and that it works the way sshfs
# and rclone users expect: the files under DESTDIR, the man page made from
# --help, an fstab line mounted and unmounted by mount(8) (through
# mount.lightlyfs and through mount.fuse3), and the systemd unit.
#
# mount(8) only looks for helpers in /sbin, and mount.fuse3 runs lightlyfs
# from a fixed PATH: the fstab tests run in a private mount namespace
# (unshare -m) where the staged files are overlaid on /usr/sbin and
# /usr/local/bin, so nothing is installed on the machine.  Whatever such a
# test mounts is mounted in its namespace only, and unmounted there.

# shellcheck disable=SC2030,SC2031
load helpers

BUILD_DIR="$(dirname "$LIGHTLYFS_BIN")"

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	STAGE="$BATS_FILE_TMPDIR/stage"
	export STAGE
	# the build the daemon came from may have built the daemon alone (the
	# sanitizer pass of scripts/test.sh): install needs the man page too
	cmake --build "$BUILD_DIR" --target manpage >"$BATS_FILE_TMPDIR/build.log"
	DESTDIR="$STAGE" cmake --install "$BUILD_DIR" >"$BATS_FILE_TMPDIR/install.log"
}

setup() {
	emu_start
	make_dataset street-scenes a.jpg b.jpg >/dev/null
	TOKEN_FILE="$BATS_TEST_TMPDIR/token"
	(umask 077 && echo "$TOKEN" >"$TOKEN_FILE")
	NS_PIDS=""
}

teardown() {
	local p
	# a daemon whose namespace script failed before its umount: ours, by pid
	for p in $NS_PIDS; do kill "$p" 2>/dev/null || true; done
	emu_stop
}

# prefix: where the default install prefix put things (/usr/local)
PREFIX=usr/local

@test "DESTDIR=... cmake --install installs the daemon, the helper, the man page and the unit" {
	[ -x "$STAGE/$PREFIX/bin/lightlyfs" ]
	[ -x "$STAGE/$PREFIX/sbin/mount.lightlyfs" ]
	[ -f "$STAGE/$PREFIX/share/man/man1/lightlyfs.1" ]
	[ -f "$STAGE/$PREFIX/lib/systemd/system/lightlyfs@.service" ]
	run "$STAGE/$PREFIX/bin/lightlyfs" --version
	assert_success
	assert_output --partial "lightlyfs "
}

@test "man -l renders lightlyfs(1), and it lists every option --help lists" {
	local page opt missing=""
	run env LC_ALL=C MANWIDTH=200 man -l "$STAGE/$PREFIX/share/man/man1/lightlyfs.1"
	assert_success
	page=$output
	[[ "$page" == *"lightlyfs - mount a Lightly account as a filesystem"* ]]
	[[ "$page" == *FSTAB* ]]
	# every option line of --help: "-o name" up to "=", or "-x" / "--long"
	while read -r opt; do
		[[ "$page" == *"$opt"* ]] || missing+=" [$opt]"
	done < <("$LIGHTLYFS_BIN" --help | awk '
		/^ +-/ && match($0, /^ */) && RLENGTH <= 6 {
			if ($1 == "-o") { split($2, a, "="); print "-o " a[1] }
			else { sub(/,$/, "", $1); print $1 }
		}' | sort -u)
	[ -z "$missing" ] || fail "not in the man page:$missing"
}

@test "mount.lightlyfs drops what only mount(8) and systemd read, and runs as setuid=" {
	run env -u LIGHTLYFS_BIN "$STAGE/$PREFIX/sbin/mount.lightlyfs" lightly /mnt/x -f -v \
		-o rw,noauto,_netdev,nofail,x-systemd.automount,x-systemd.idle-timeout=60,token_file=/etc/t,uid=7,setuid=nobody
	assert_success
	assert_output "mount.lightlyfs: runuser -u nobody -- $STAGE/$PREFIX/sbin/../bin/lightlyfs lightly /mnt/x -o rw,token_file=/etc/t,uid=7"
}

# in_ns SCRIPT: runs sh SCRIPT in a private mount namespace with the staged
# install overlaid; skips when the machine allows no such namespace
in_ns() {
	unshare -m --propagation private true 2>/dev/null ||
		skip "no private mount namespace (unshare -m) here"
	grep -qw overlay /proc/filesystems || skip "no overlayfs"
	# the installed lightlyfs, not the build's
	# shellcheck disable=SC2016 # expanded by the inner sh
	run env -u LIGHTLYFS_BIN unshare -m --propagation private sh -c '
		set -e
		mount -t overlay overlay -o "lowerdir=$STAGE/usr/local/sbin:/usr/sbin" /usr/sbin
		mount -t overlay overlay -o "lowerdir=$STAGE/usr/local/bin:/usr/local/bin" /usr/local/bin
		. "$1"' sh "$1"
}

# fstab_test TYPE FLAGS: an fstab line of TYPE mounted by mount -T, listed,
# unmounted by umount; FLAGS: the kernel's mount flags expected in
# /proc/self/mounts.  The daemon's pid comes from its log.
fstab_test() {
	local mnt="$BATS_TEST_TMPDIR/mnt" log="$BATS_TEST_TMPDIR/fs.log"
	local opts="noauto,_netdev,x-systemd.automount,server=$EMU_URL"
	opts+=",token_file=$TOKEN_FILE,log_file=$log,uid=4321,umask=027"
	# mount(8) runs root's helper without HOME: its default state would be
	# the machine's /var/lib/lightlyfs (package.bats tests that default
	# in a throwaway root)
	opts+=",state_dir=$BATS_TEST_TMPDIR/state,cache_dir=$BATS_TEST_TMPDIR/cache"
	mkdir -p "$mnt"
	echo "lightly $mnt $1 $opts 0 0" >"$BATS_TEST_TMPDIR/fstab"
	cat >"$BATS_TEST_TMPDIR/ns.sh" <<SH
trap 'umount "$mnt" 2>/dev/null || true' EXIT
mount -T "$BATS_TEST_TMPDIR/fstab" "$mnt"
grep " $mnt " /proc/self/mounts
ls "$mnt"
stat -c '%u %a' "$mnt/street-scenes"
pid=\$(sed -n 's/.*lightlyfs\[\([0-9]*\)\] INFO: lightlyfs [^ ]* mounted .*/\1/p' "$log" | tail -1)
echo "pid \$pid"
umount "$mnt"
trap - EXIT
for _ in \$(seq 1 100); do kill -0 "\$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "\$pid" 2>/dev/null && echo "daemon still running" || echo "daemon gone"
grep -c " $mnt " /proc/self/mounts || true
SH
	in_ns "$BATS_TEST_TMPDIR/ns.sh"
	NS_PIDS=$(sed -n 's/.*lightlyfs\[\([0-9]*\)\].*/\1/p' "$log" 2>/dev/null | sort -u)
	echo "$output"
	assert_success
	assert_line "lightly $mnt fuse.lightlyfs $2,relatime,user_id=0,group_id=0 0 0"
	assert_line street-scenes
	assert_line "4321 750"
	assert_line "daemon gone"
	assert_line 0
	run grep -F "$TOKEN" "$log"
	assert_failure
}

@test "fstab type lightlyfs: mount -T FILE mounts through mount.lightlyfs; umount unmounts" {
	fstab_test lightlyfs rw,nosuid,nodev
}

@test "fstab type fuse.lightlyfs: mount -T FILE mounts through mount.fuse3; umount unmounts" {
	# mount.fuse3 adds dev,suid to the options
	fstab_test fuse.lightlyfs rw
}

@test "lightlyfs@.service passes systemd-analyze verify" {
	command -v systemd-analyze >/dev/null || skip "no systemd-analyze"
	local unit="$BATS_TEST_TMPDIR/lightlyfs@mnt-lightly.service"
	cp "$STAGE/$PREFIX/lib/systemd/system/lightlyfs@.service" "$unit"
	# ExecStart names /usr/local/bin/lightlyfs: verify checks it exists
	cat >"$BATS_TEST_TMPDIR/ns.sh" <<SH
systemd-analyze verify --man=no "$unit"
SH
	in_ns "$BATS_TEST_TMPDIR/ns.sh"
	echo "$output"
	assert_success
	run grep -E '^Type=(notify|forking)$' "$unit"
	assert_success
}
