#!/usr/bin/env bash
# Builds the Debian package lightlyfs_<version>_<arch>.deb from debian/ with
# dpkg-buildpackage (debhelper's cmake build: the project's own install
# rules, the shared-library dependencies found by dpkg-shlibdeps, the unit
# handled by dh_installsystemd), in a copy of the tree, and prints the
# .deb's path as its last line.
#
#   scripts/package.sh [OUTDIR]        (default: dist/)
#
# The version is the project's (CMakeLists.txt); in a git checkout it gets
# +git<commits>.<commit> (and .dirty with uncommitted changes), so every
# build of a new commit sorts after the one before.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
out=${1:-$root/dist}

scripts/deps.sh debhelper dpkg-dev lintian >&2

base=$(sed -n 's/^project(lightlyfs VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
version=$base
what="a copy of the source tree"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	version="$base+git$(git rev-list --count HEAD).$(git rev-parse --short=8 HEAD)"
	git diff --quiet HEAD 2>/dev/null || version+=".dirty"
	what="commit $(git rev-parse --short=8 HEAD)"
fi

work=$(mktemp -d /tmp/lfs-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
src="$work/lightlyfs-$version"
mkdir "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# what git knows of, with local changes; never build directories
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
		xargs -0 cp -a --parents -t "$src"
else
	tar -C "$root" --exclude='./build*' --exclude=./dist --exclude=./.demo \
		-cf - . | tar -C "$src" -xf -
fi

cat >"$src/debian/changelog" <<EOF
lightlyfs ($version) unstable; urgency=medium

  * Built from $what.

 -- lightlyfs authors <lightlyfs@users.noreply.github.com>  $(date -R)
EOF

if ! (cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)") >"$work/build.log" 2>&1; then
	tail -60 "$work/build.log" >&2
	echo "package.sh: dpkg-buildpackage failed" >&2
	exit 1
fi
mkdir -p "$out"
deb="lightlyfs_${version}_$(dpkg --print-architecture).deb"
cp "$work/$deb" "$out/"
echo "$out/$deb"
