#!/usr/bin/env bats
# Inode numbers as programs see them: Node.js keeps fs.Stats.ino in a double,
# which holds every integer below 2^53 exactly and merges larger ones that
# are close.  Over a walk of the demo account's mount (every dataset, tag,
# folder, sample and .lightly entry), Node must tell apart exactly as many
# inodes as stat(1) does, and no inode number may reach 2^53.

load helpers

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
}

setup() {
	emu_start --demo
	mount_fs
	WALK="$BATS_TEST_TMPDIR/walk"
	find "$MNT" -print0 >"$WALK"
}

teardown() {
	unmount_fs
	emu_stop
}

# the inode number of every walked path, as stat(1) reads it (unsigned 64 bits)
walk_inodes() { xargs -0 stat -c %i <"$WALK"; }

@test "the walk covers datasets, tags, samples and .lightly" {
	local n
	n=$(tr -cd '\0' <"$WALK" | wc -c)
	[ "$n" -ge 100 ] || fail "the walk found only $n paths"
	grep -qzxF "$MNT/.lightly/stats" "$WALK"
	grep -qzxF "$MNT/warehouse-pallets/damaged/site-berlin/aisle-01/pallet_002.png" "$WALK"
	grep -qzxF "$MNT/medical-xray/.lightly/dataset.json" "$WALK"
}

@test "Node.js tells apart as many inodes as stat does over the whole mount" {
	command -v node >/dev/null || fail "node is missing (scripts/deps.sh installs nodejs)"
	local paths by_stat by_node
	paths=$(tr -cd '\0' <"$WALK" | wc -c)
	by_stat=$(walk_inodes | sort -u | wc -l)
	# fs.statSync without {bigint: true}: ino is a Number, as most programs
	# read it
	by_node=$(node -e '
const fs = require("fs");
const paths = fs.readFileSync(process.argv[1], "latin1").split("\0");
paths.pop();
const inos = new Set(paths.map((p) => fs.statSync(Buffer.from(p, "latin1")).ino));
console.log(inos.size);' "$WALK")
	[ "$by_node" = "$by_stat" ] ||
		fail "over $paths paths, stat -c %i sees $by_stat distinct inode numbers, Node.js (fs.statSync(p).ino) $by_node; largest: $(walk_inodes | sort -n | tail -1)"
}

@test "every inode number of the walk is below 2^53" {
	local top
	top=$(walk_inodes | sort -n | tail -1)
	[ -n "$top" ]
	# compared by python: bash arithmetic stops at 2^63 - 1, ino_t does not
	python3 -c 'import sys; sys.exit(int(sys.argv[1]) >= 2**53)' "$top" ||
		fail "the largest inode number is $top ($(python3 -c 'import sys; print(hex(int(sys.argv[1])))' "$top")), not below 2^53 = 9007199254740992"
}
