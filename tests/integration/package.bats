#!/usr/bin/env bats
# The Debian package (scripts/package.sh): lintian finds nothing, and in a
# throwaway root (an overlay of / in a private mount namespace, its upper
# layer a tmpfs: nothing on the machine changes) it installs with dpkg,
# mounts the emulator through /etc/fstab and through the unit's ExecStart
# line, reads a sample, makes an edit, unmounts, and purges without a trace.

# shellcheck disable=SC2030,SC2031
load helpers

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	DEB=$("$BATS_TEST_DIRNAME/../../scripts/package.sh" "$BATS_FILE_TMPDIR/dist" 2>"$BATS_FILE_TMPDIR/package.log" | tail -1)
	export DEB
}

setup() {
	[ -f "${DEB:-}" ] || fail "scripts/package.sh made no .deb: $(tail -20 "$BATS_FILE_TMPDIR/package.log")"
	emu_start
	DS=$(make_dataset street-scenes a.jpg b.jpg c.jpg)
	NIGHT=$(make_tag "$DS" night 0x1)
}

teardown() {
	emu_stop
}

@test "scripts/package.sh builds a .deb that lintian passes without an error or a warning" {
	[[ "$(basename "$DEB")" =~ ^lightlyfs_[0-9]+\.[0-9]+\.[0-9]+(\+git[0-9]+\.[0-9a-f]+(\.dirty)?)?_[a-z0-9]+\.deb$ ]]
	run dpkg-deb -f "$DEB" Depends
	assert_output --partial fuse3
	assert_output --partial libfuse3-3
	run dpkg-deb -c "$DEB"
	assert_output --partial ./usr/bin/lightlyfs
	assert_output --partial ./sbin/mount.lightlyfs
	assert_output --partial ./lib/systemd/system/lightlyfs@.service
	assert_output --partial ./usr/share/man/man1/lightlyfs.1.gz
	run lintian --fail-on error,warning "$DEB"
	echo "$output"
	assert_success
	refute_output --regexp '^[EW]: '
}

@test "the .deb in a throwaway root: fstab and the unit's ExecStart mount, read and edit; purge leaves nothing" {
	unshare -m --propagation private true 2>/dev/null ||
		skip "no private mount namespace (unshare -m) here"
	grep -qw overlay /proc/filesystems || skip "no overlayfs"
	local id url sample_size
	# the sample's bytes as storage serves them
	id=$(api GET "/v1/datasets/$DS/samples" | py "print([s['id'] for s in d if s['fileName'] == 'a.jpg'][0])")
	url=$(api GET "/v1/datasets/$DS/samples/$id/readurl?type=full" | py 'print(d)')
	sample_size=$(curl -sS "$url" | wc -c)
	[ "$sample_size" -gt 0 ]
	cp "$DEB" "$BATS_TEST_TMPDIR/lightlyfs.deb"
	cat >"$BATS_TEST_TMPDIR/inner.sh" <<INNER
set -eu
echo "$TOKEN" >/etc/lightlyfs-token-test
dpkg -i /tmp/lightlyfs.deb >/dev/null
echo installed \$(dpkg-query -W -f='\${Status}' lightlyfs)
mkdir -p /etc/lightlyfs /mnt/fstab /mnt/unit
install -m 600 /etc/lightlyfs-token-test /etc/lightlyfs/token
rm /etc/lightlyfs-token-test

# through /etc/fstab and mount.lightlyfs
echo "lightly /mnt/fstab lightlyfs noauto,server=$EMU_URL,token_file=/etc/lightlyfs/token 0 0" >>/etc/fstab
mount /mnt/fstab
echo fstab-ls \$(ls /mnt/fstab)
echo fstab-read \$(wc -c </mnt/fstab/street-scenes/initial-tag/a.jpg)
ln /mnt/fstab/street-scenes/initial-tag/b.jpg /mnt/fstab/street-scenes/night/
sync /mnt/fstab/street-scenes/night
umount /mnt/fstab
echo fstab-unmounted \$(grep -c " /mnt/fstab " /proc/self/mounts || true)

# through the unit's ExecStart line, as systemd would run it: its
# specifiers, its EnvironmentFile, its StateDirectory and CacheDirectory
unit=/lib/systemd/system/lightlyfs@.service
inst=\$(systemd-escape -p /mnt/unit)
printf 'LIGHTLY_TOKEN=%s\nLIGHTLY_SERVER_LOCATION=%s\nLIGHTLYFS_OPTIONS=-o log_file=/tmp/unit.log\n' "$TOKEN" "$EMU_URL" >/etc/lightlyfs/\$inst.env
mkdir -p /var/lib/lightlyfs/\$inst /var/cache/lightlyfs/\$inst
line=\$(sed -n 's/^ExecStart=//p' \$unit)
line=\$(echo "\$line" | sed -e "s|%f|/mnt/unit|g" -e "s|%i|\$inst|g" -e "s|%S|/var/lib|g" -e "s|%C|/var/cache|g")
# as systemd reads an EnvironmentFile: the whole rest of each line
while IFS= read -r kv; do export "\${kv%%=*}=\${kv#*=}"; done </etc/lightlyfs/\$inst.env
echo unit-cmd \$line
eval "\$line" &
pid=\$!
for _ in \$(seq 100); do mountpoint -q /mnt/unit && break; sleep 0.1; done
echo unit-ls \$(ls /mnt/unit/street-scenes)
echo unit-read \$(wc -c </mnt/unit/street-scenes/initial-tag/a.jpg)
ln /mnt/unit/street-scenes/initial-tag/c.jpg /mnt/unit/street-scenes/night/
sync /mnt/unit/street-scenes/night
echo unit-state \$(ls /var/lib/lightlyfs/\$inst | grep -c '^journal-')
fusermount3 -u /mnt/unit
wait \$pid
echo unit-exit \$?

# a journal still holding an edit (here a made-up one) keeps its state dir
printf 'lightlyfs-journal 1\nA 1 x\n' >/var/lib/lightlyfs/\$inst/journal-0000000000000000.log
dpkg --purge lightlyfs 2>&1 >/dev/null | sed 's/^/purge-says /'
echo purged \$(dpkg-query -W -f='\${Status}' lightlyfs 2>/dev/null || echo none)
echo kept-journal \$(ls /var/lib/lightlyfs/\$inst/ | grep -c '^journal-')
echo cache-gone \$(test -e /var/cache/lightlyfs && echo no || echo yes)
rm -rf /var/lib/lightlyfs
# the test's own configuration goes too; what the package made must be gone
rm -rf /etc/lightlyfs
sed -i '\\| /mnt/fstab |d' /etc/fstab
rmdir /mnt/fstab /mnt/unit
INNER
	# shellcheck disable=SC2016 # expanded by the inner sh
	run unshare -m --propagation private sh -c '
		set -e
		t=$(mktemp -d)
		mount -t tmpfs tmpfs "$t"
		mkdir "$t/upper" "$t/work" "$t/root"
		mount -t overlay overlay -o "lowerdir=/,upperdir=$t/upper,workdir=$t/work" "$t/root"
		for d in dev proc sys; do mount --rbind "/$d" "$t/root/$d"; done
		mount -t tmpfs tmpfs "$t/root/tmp"
		mount -t tmpfs tmpfs "$t/root/run"
		cp "$1/lightlyfs.deb" "$1/inner.sh" "$t/root/tmp/"
		chroot "$t/root" sh /tmp/inner.sh
		# what the package, the mounts and the purge left in the root
		cd "$t/upper"
		find . -path "*lightlyfs*" | sed "s/^/left: /"
		echo left-end' sh "$BATS_TEST_TMPDIR"
	echo "$output"
	assert_success
	assert_line "installed install ok installed"
	assert_line "fstab-ls street-scenes"
	assert_line "fstab-read $sample_size"
	assert_line "fstab-unmounted 0"
	assert_line "unit-ls initial-tag night"
	assert_line "unit-read $sample_size"
	assert_line "unit-state 1"
	assert_line "unit-exit 0"
	assert_line "purged none"
	assert_line "purge-says lightlyfs: /var/lib/lightlyfs kept: a journal there holds edits not yet on the server"
	assert_line "kept-journal 2"
	assert_line "cache-gone yes"
	refute_line --partial "left: "
	assert_line left-end
	# the edits of both mounts are on the server
	run server_filenames "$DS" "$NIGHT"
	assert_output "a.jpg
b.jpg
c.jpg"
}
