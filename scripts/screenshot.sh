#!/usr/bin/env bash
# docs/file-manager.png: pcmanfm under Xvfb showing a mounted demo
# dataset's tag directories; docs/file-manager-tag.png: the same file
# manager in a tag, its samples as thumbnails that it makes from the
# mount's bytes.  Starts the demo (its own state directory), captures, and
# stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/docs/file-manager.png"
out_tag="$root/docs/file-manager-tag.png"
need=()
command -v Xvfb >/dev/null || need+=(xvfb)
command -v pcmanfm >/dev/null || need+=(pcmanfm)
command -v xwd >/dev/null || need+=(x11-apps)
[ "${#need[@]}" -eq 0 ] || scripts/deps.sh "${need[@]}"

work=$(mktemp -d)
export LIGHTLYFS_DEMO_DIR="$work/demo"
xvfb="" fm=""
cleanup() {
	[ -n "$fm" ] && kill "$fm" 2>/dev/null
	[ -n "${fm2:-}" ] && kill "$fm2" 2>/dev/null
	[ -n "$xvfb" ] && kill "$xvfb" 2>/dev/null
	scripts/demo.sh stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

# shoot PNG: the screen, from XWD (ZPixmap, 32 bits a pixel, as Xvfb's
# 24-bit screen gives) to PNG with the Python standard library only
shoot() {
	DISPLAY=$display xwd -root -silent >"$work/shot.xwd"
	python3 - "$work/shot.xwd" "$1" <<'PY'
import struct, sys, zlib
d = open(sys.argv[1], "rb").read()
h = struct.unpack(">25I", d[:100])
hsize, w, ht, bpp, bpl, ncolors = h[0], h[4], h[5], h[11], h[12], h[19]
assert bpp == 32, bpp
off = hsize + ncolors * 12
rows = []
for y in range(ht):
    r = d[off + y * bpl:off + y * bpl + w * 4]
    px = bytearray(w * 3)
    px[0::3], px[1::3], px[2::3] = r[2::4], r[1::4], r[0::4]
    rows.append(b"\0" + bytes(px))
def chunk(t, b):
    return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, ht, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b"")
open(sys.argv[2], "wb").write(png)
PY
}

scripts/demo.sh "$work/mnt" >/dev/null
ds=$(find "$work/mnt" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | LC_ALL=C sort | tail -1)

display=:$((90 + RANDOM % 9))
Xvfb "$display" -screen 0 640x480x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
sleep 1
HOME="$work" DISPLAY=$display pcmanfm --no-desktop "$ds" >/dev/null 2>&1 &
fm=$!
sleep 4
mkdir -p "$root/docs"
shoot "$out"
kill "$fm"
wait "$fm" 2>/dev/null || true
fm=""

# a tag's samples in the thumbnail view; libfm thumbnails local files only,
# and a FUSE mount is local to it
# (the tag folder holding the most samples: samples sit in folders)
tag=$(find "$ds" -mindepth 2 -type f ! -path '*/.lightly/*' -printf '%h\n' |
	LC_ALL=C sort | uniq -c | sort -rn | awk 'NR == 1 { $1 = ""; sub(/^ /, ""); print }')
mkdir -p "$work/.config/pcmanfm/default" "$work/.config/libfm"
printf '[ui]\nview_mode=thumbnail\n' >"$work/.config/pcmanfm/default/pcmanfm.conf"
printf '[config]\nthumbnail_local=1\nthumbnail_max=65536\n' >"$work/.config/libfm/libfm.conf"
HOME="$work" DISPLAY=$display pcmanfm --no-desktop "$tag" >/dev/null 2>&1 &
fm2=$!
sleep 6
shoot "$out_tag"
echo "wrote $out and $out_tag"
