"""Sample content for the Lightly emulator: image bodies and their sizes.

Bodies are deterministic functions of (kind, size, seed) and are only built
when storage serves them; everything the API reports about a sample (its
sizeInBytes and shape) is computed from the size alone, without rendering.

- PNG: an RGB image whose size is close to the wanted one, pixel data in
  stored (uncompressed) deflate blocks, topped up to the exact byte count with
  a tEXt "Comment" chunk.
- JPEG: a baseline, grey-scale JFIF whose 8x8 blocks carry only DC values (a
  ramp in steps of 8 grey levels), with own minimal Huffman tables, topped up
  to the exact size with COM segments.

Sizes come from the file name (crc32, spread log-uniformly over a few KB to a
few MB) unless the sample's creating request gave metaData.sizeInBytes.
Standard library only.
"""

import math
import struct
import zlib

KIND_PNG = "png"
KIND_JPEG = "jpeg"
CONTENT_TYPES = {KIND_PNG: "image/png", KIND_JPEG: "image/jpeg"}

VARIED_MIN = 4 * 1024
VARIED_MAX = 6 * 1024 * 1024
THUMB_MIN = 2 * 1024
THUMB_MAX = 24 * 1024
MAX_EXPLICIT = 64 * 1024 * 1024     # largest metaData.sizeInBytes served as asked

_JPEG_EXTS = (".jpg", ".jpeg", ".jpe", ".jfif")


def kind_of(name):
    """JPEG for .jpg/.jpeg names (any case), PNG for everything else."""
    return KIND_JPEG if name.lower().endswith(_JPEG_EXTS) else KIND_PNG


def _mix(h):
    return (h * 0x9E3779B1) & 0xFFFFFFFF


def _log_spread(h, low, high):
    return int(low * (high / low) ** (_mix(h) / 4294967296.0))


def name_hash(name, salt=b""):
    return zlib.crc32(salt + name.encode("utf-8", "surrogatepass"))


def varied_size(name):
    return _log_spread(name_hash(name), VARIED_MIN, VARIED_MAX)


def thumbnail_size(name):
    return _log_spread(name_hash(name, b"thumb:"), THUMB_MIN, THUMB_MAX)


# -------------------------------------------------------------------- PNG

_PNG_FIXED_OVERHEAD = 8 + 25 + 12 + 12 + 20   # signature, IHDR, IDAT, IEND, tEXt head
_ROW_TABLES = None


def _row_tables():
    global _ROW_TABLES
    if _ROW_TABLES is None:
        _ROW_TABLES = [bytes((i + s) & 255 for i in range(256)) for s in range(256)]
    return _ROW_TABLES


def _stored_len(raw_len):
    blocks = max(1, -(-raw_len // 65535))
    return 2 + raw_len + 5 * blocks + 4


def png_layout(size):
    """(width, height) of the PNG rendered for size bytes, or None if too small."""
    width = max(1, min(4096, int(math.sqrt(size / 3.0 * 4.0 / 3.0))))
    row = 1 + 3 * width
    height = max(1, (size - _PNG_FIXED_OVERHEAD) // row)
    while height >= 1 and _PNG_FIXED_OVERHEAD + _stored_len(height * row) > size:
        height -= 1
    if height < 1:
        return None
    return width, height


def _chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF))


def _filler(size, seed):
    unit = ("lightly-emulator %s " % seed).encode("ascii")
    return (unit * (size // len(unit) + 1))[:size]


def render_png(size, seed):
    layout = png_layout(size)
    if layout is None:
        layout = (1, 1)
        size = _PNG_FIXED_OVERHEAD + _stored_len(4)
    width, height = layout
    h = name_hash(seed)
    r0, g0, b0 = h & 255, (h >> 8) & 255, (h >> 16) & 255
    base = bytearray(3 * width)
    for x in range(width):
        v = x * 256 // width
        base[3 * x] = (v + r0) & 255
        base[3 * x + 1] = (g0 + (v >> 1)) & 255
        base[3 * x + 2] = (b0 - v) & 255
    base = bytes(base)
    tables = _row_tables()
    rows = [b"\x00" + base.translate(tables[(y * 256 // height) & 255])
            for y in range(height)]
    raw = b"".join(rows)
    blocks = [b"\x78\x01"]
    n = len(raw)
    for start in range(0, n, 65535):
        part = raw[start:start + 65535]
        last = 1 if start + 65535 >= n else 0
        blocks.append(struct.pack("<BHH", last, len(part), len(part) ^ 0xFFFF))
        blocks.append(part)
    blocks.append(struct.pack(">I", zlib.adler32(raw) & 0xFFFFFFFF))
    idat = b"".join(blocks)
    pad = size - (_PNG_FIXED_OVERHEAD + len(idat))
    text = b"Comment\x00" + _filler(pad, seed)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"tEXt", text)
            + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


def legacy_png(rgb):
    """The emulator's original 16x16 solid PNG (zlib level 0)."""
    width = height = 16
    raw = (b"\x00" + bytes(rgb) * width) * height
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(raw, 0)) + _chunk(b"IEND", b""))


LEGACY_PNG_SIZE = len(legacy_png((0, 0, 0)))

# ------------------------------------------------------------------- JPEG

# Entropy data is periodic: 16 blocks whose DC differences are +1 fifteen
# times, then -15 (a ramp of 8 grey levels per block), each followed by the
# same number a (0..63) of AC coefficients of +-1 (texture).  Own Huffman
# tables: DC 00 -> category 0, 01 -> 1, 10 -> 4; AC 0 -> EOB, 10 -> run 0 /
# size 1.  8 periods (128 blocks, a "unit") end on a byte boundary, so the
# scan is a unit repeated; a is the largest that fits the wanted size, and
# COM segments take up the rest.
_JPEG_UNIT_BLOCKS = 128
_JPEG_UNITS = {}


def _jpeg_unit(a):
    unit = _JPEG_UNITS.get(a)
    if unit is None:
        ac = "".join("10" + ("1" if k % 2 else "0") for k in range(a))
        eob = "0" if a < 63 else ""
        period = ("01" "1" + ac + eob) * 15 + ("10" "0000" + ac + eob)
        bits = period * 8
        unit = int(bits, 2).to_bytes(len(bits) // 8, "big").replace(b"\xff", b"\xff\x00")
        _JPEG_UNITS[a] = unit
    return unit


def _jpeg_unit_len(a):
    return 67 + 48 * a if a < 63 else 51 + 48 * 63


def _segment(marker, payload):
    return b"\xff" + bytes((marker,)) + struct.pack(">H", len(payload) + 2) + payload


_JFIF = _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
_DQT = _segment(0xDB, b"\x00" + bytes((64,)) + b"\x08" * 63)
_DHT = (_segment(0xC4, b"\x00" + bytes((0, 3) + (0,) * 14) + bytes((0, 1, 4)))
        + _segment(0xC4, b"\x10" + bytes((1, 1) + (0,) * 14) + b"\x00\x01"))
_SOS = _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
_JPEG_FIXED = 2 + len(_JFIF) + len(_DQT) + 13 + len(_DHT) + len(_SOS) + 2


def jpeg_plan(size):
    """(width, height, a) of the JPEG rendered for size bytes, or None if too small."""
    pixels = max(1, size) * 5 // 2
    width = max(128, int(math.sqrt(pixels * 4.0 / 3.0)) // 128 * 128)
    height = max(64, pixels // width // 64 * 64)
    while True:
        units = (width // 8) * (height // 8) // _JPEG_UNIT_BLOCKS
        room = size - _JPEG_FIXED
        if units * _jpeg_unit_len(0) <= room:
            a = 63 if units * _jpeg_unit_len(63) <= room else \
                min(62, (room // units - 67) // 48)
            return width, height, a
        if height > 64:
            height -= 64
        elif width > 128:
            width -= 128
        else:
            return None


def jpeg_layout(size):
    plan = jpeg_plan(size)
    return None if plan is None else plan[:2]


def _com_segments(total, seed):
    if total <= 0:
        return b""
    count = -(-total // 65537)
    out = []
    left = total
    for i in range(count):
        part = left // (count - i)
        left -= part
        out.append(b"\xff\xfe" + struct.pack(">H", part - 2) + _filler(part - 4, seed))
    return b"".join(out)


def render_jpeg(size, seed):
    plan = jpeg_plan(size)
    if plan is None:
        plan = (128, 64, 0)
        size = _JPEG_FIXED + _jpeg_unit_len(0)
    width, height, a = plan
    units = (width // 8) * (height // 8) // _JPEG_UNIT_BLOCKS
    unit = _jpeg_unit(a)
    sof = _segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
    pad = size - (_JPEG_FIXED + units * len(unit))
    if 0 < pad < 4:     # too little for a COM segment: one AC coefficient less
        unit = _jpeg_unit(a - 1) if a > 0 else unit
        pad = size - (_JPEG_FIXED + units * len(unit))
    tail = b""
    if 0 < pad < 4:     # still no room for a COM segment: bytes after EOI
        tail, pad = b"\x00" * pad, 0
    return (b"\xff\xd8" + _JFIF + _com_segments(pad, seed) + _DQT + sof + _DHT + _SOS
            + unit * units + b"\xff\xd9" + tail)


def render(kind, size, seed):
    return render_jpeg(size, seed) if kind == KIND_JPEG else render_png(size, seed)


def min_size(kind):
    if kind == KIND_JPEG:
        return _JPEG_FIXED + _jpeg_unit_len(0)
    return _PNG_FIXED_OVERHEAD + _stored_len(4)


def shape(kind, size):
    """[height, width, channels] of the image rendered for size bytes."""
    if kind == KIND_JPEG:
        layout = jpeg_layout(size) or (128, 64)
        return [layout[1], layout[0], 1]
    layout = png_layout(size) or (1, 1)
    return [layout[1], layout[0], 3]
