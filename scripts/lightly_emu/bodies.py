"""The content model: what storage serves for each sample.

Sizes per --blob-sizes (computed, no rendering) and bodies rendered by
content.py on first use and kept in a bounded LRU cache with their ETags.
"""

import hashlib
import threading

from . import content


make_png = content.legacy_png
BLOB_SIZE = content.LEGACY_PNG_SIZE
FIXED_JPEG_SIZE = 2048
FIXED_THUMB_JPEG_SIZE = 1024
BLOB_SIZE_MODES = ("fixed", "varied")
SIZE_META_MODES = ("exact", "absent", "smaller", "larger")


class Content:
    """What storage serves for a sample: sizes (cheap, no rendering) and bodies (cached).

    mode 'fixed': the original 16x16 PNG (BLOB_SIZE bytes) for every name except
    .jpg/.jpeg, which get a FIXED_JPEG_SIZE-byte JPEG.  mode 'varied': sizes
    from content.varied_size(name).  Either way a sample created with
    metaData.sizeInBytes gets a body of that size (at least the format's
    minimum, at most content.MAX_EXPLICIT).
    """

    CACHE_BYTES = 160 * 1024 * 1024

    def __init__(self, mode="fixed"):
        self.mode = mode
        self.lock = threading.Lock()
        self.cache = {}         # key -> bytes, insertion order = LRU order
        self.cached_bytes = 0

    def mode_size(self, name):
        if self.mode == "varied":
            return content.varied_size(name)
        return FIXED_JPEG_SIZE if content.kind_of(name) == content.KIND_JPEG else BLOB_SIZE

    def total(self, names):
        if self.mode == "varied":
            return sum(map(content.varied_size, names))
        jpegs = sum(1 for n in names if n.lower().endswith(content._JPEG_EXTS))
        return jpegs * FIXED_JPEG_SIZE + (len(names) - jpegs) * BLOB_SIZE

    @staticmethod
    def clamp(kind, size):
        return min(max(size, content.min_size(kind)), content.MAX_EXPLICIT)

    def size(self, name, explicit=None, img_type="full"):
        kind = content.kind_of(name)
        if img_type == "thumbnail":
            if self.mode == "varied":
                return content.thumbnail_size(name)
            return FIXED_THUMB_JPEG_SIZE if kind == content.KIND_JPEG else BLOB_SIZE
        if explicit is not None:
            return self.clamp(kind, explicit)
        return self.mode_size(name)

    def shape(self, name, size):
        kind = content.kind_of(name)
        if kind == content.KIND_PNG and size == BLOB_SIZE and self.mode == "fixed":
            return [16, 16, 3]
        return content.shape(kind, size)

    def body(self, sample_id, name, size, img_type):
        """(bytes, content type) of a sample's image, rendered once and cached."""
        data, ctype, _ = self.body_etag(sample_id, name, size, img_type)
        return data, ctype

    def body_etag(self, sample_id, name, size, img_type):
        """(bytes, content type, ETag): the ETag is computed once per body, as
        storage computes it once at upload, so a ranged GET costs its range."""
        kind = content.kind_of(name)
        key = (sample_id, img_type, size)
        with self.lock:
            hit = self.cache.pop(key, None)
            if hit is not None:
                self.cache[key] = hit
                return hit[0], content.CONTENT_TYPES[kind], hit[1]
        if kind == content.KIND_PNG and size == BLOB_SIZE:
            data = make_png(hashlib.sha256(sample_id.encode()).digest()[:3])
        else:
            data = content.render(kind, size, sample_id)
        etag = '"%s"' % hashlib.md5(data).hexdigest()
        with self.lock:
            if key not in self.cache:
                self.cache[key] = (data, etag)
                self.cached_bytes += len(data)
                while self.cached_bytes > self.CACHE_BYTES and len(self.cache) > 1:
                    old = next(iter(self.cache))
                    self.cached_bytes -= len(self.cache.pop(old)[0])
        return data, content.CONTENT_TYPES[kind], etag


def explicit_size(extra):
    """metaData.sizeInBytes of a creating request's extra fields, or None."""
    meta = extra.get("metaData") if isinstance(extra, dict) else None
    if isinstance(meta, dict):
        size = meta.get("sizeInBytes")
        if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
            return size
    return None
