#!/usr/bin/env bash
# docs/file-manager.png: pcmanfm under Xvfb showing a mounted demo
# dataset's tag directories.  Starts the demo (its own state directory),
# captures, and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/docs/file-manager.png"
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
	[ -n "$xvfb" ] && kill "$xvfb" 2>/dev/null
	scripts/demo.sh stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

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
DISPLAY=$display xwd -root -silent >"$work/shot.xwd"
# XWD (ZPixmap, 32 bits a pixel, as Xvfb's 24-bit screen gives) to PNG
# with the Python standard library only
python3 - "$work/shot.xwd" "$out" <<'PY'
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
echo "wrote $out"
