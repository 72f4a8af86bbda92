#!/usr/bin/env python3
"""Local emulator of the Lightly REST API: the server behind the demo and every test.

It owns the wire behaviour the lightlyfs C client relies on (paths, status
codes, JSON shapes, error bodies, bitmask and upsize semantics; the facts are
in shared/API-NOTES.md and shared/seed/TagsApi.md) and a small test-support
API under /_emulator/ (request counters, fault injection, hostile sample
names).  It is the oracle the integration tests compare the filesystem
against, so it is written independently of the C side, with the Python
standard library only.

State lives in SQLite (a --state file survives restarts; otherwise a temp file
removed at exit).  Datasets and tags are also held in memory; a dataset's
sample names and ids are loaded lazily into per-dataset lists in index order,
so pages of a million-name mapping are served from memory.

Sample content (lightly_emu/content.py beside this file) is computed, never
stored: a sample's size comes from its file name or its metaData, and its
PNG or JPEG body is rendered only when storage serves it (a bounded cache
keeps recent bodies for range reads).  Storage (/blobs/, signed URLs) answers
like S3 or GCS: Range and 416, 403 to HEAD, XML errors, expiry after
--url-ttl; it can listen on a port of its own (--storage-port), another
origin than the API, and counts what it receives, the Lightly token included.
New options: --blob-sizes, --size-meta, --url-ttl, --storage, --storage-port,
--storage-host, --no-paged-exports (see --help).

Decisions the API reference leaves open are collected in the EMULATOR_CHOICES
text below (also printed by --help) so they are easy to find and change.
"""

import argparse
import hashlib
import hmac
import itertools
import json
import os
import re
import signal
import socket
import sqlite3
import struct
import sys
import tempfile
import threading
import time
import traceback
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lightly_emu import content  # noqa: E402  (module beside this script)

DEFAULT_TOKEN = "emulator-token"
PIP_MINIMUM = "1.0.0"
PIP_LATEST = "1.5.26"
INITIAL_TAG_NAME = "initial-tag"
DEFAULT_EXPIRES_IN_S = 7 * 24 * 3600
MAX_BODY_BYTES = 512 * 1024 * 1024
MAX_FILE_NAME_CHARS = 255
KEEPALIVE_IDLE_S = 300
SCHEMA_VERSION = "1"

RE_OBJECT_ID = re.compile(r"[a-f0-9]{24}\Z")
RE_TAG_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9 .:;=@_-]{2,}\Z")  # >= 3 characters
RE_DATASET_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9 _-]{2,}\Z")
RE_BITMASK = re.compile(r"0x(?:0|[1-9a-f][0-9a-f]*)\Z")
RE_ACCESS_CONTROL = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}\Z")
FILE_NAME_FORMATS = ("NAME", "REDIRECTED_READ_URL", "DATASOURCE_FULL")
DATASOURCE_BUCKET = "lightly-emulator-datasource"

TAG_CREATORS = frozenset((
    "UNKNOWN", "USER_WEBAPP", "USER_PIP", "USER_PIP_LIGHTLY_MAGIC",
    "USER_WORKER", "SAMPLER_ACTIVE_LEARNING", "SAMPLER_CORAL",
    "SAMPLER_CORESET", "SAMPLER_RANDOM"))
IMAGE_TYPES = ("full", "thumbnail", "meta")
DATASET_TYPES = ("Images", "Videos", "Crops")
OPERATIONS = ("UNION", "INTERSECTION", "DIFFERENCE")
SAMPLE_RESERVED_KEYS = frozenset((
    "id", "type", "datasetId", "fileName", "createdAt", "lastModifiedAt"))

EMULATOR_CHOICES = """\
choices where the API reference is silent:
  auth        token from ?token= (wins) or 'Authorization: Bearer'; a wrong or
              missing one is 401 UNAUTHORIZED.  No token is needed under
              /v1/versions/, /_emulator/, /blobs/ (signed) and for
              readurlRedirect carrying a valid publicToken.
  order       unknown route -> 404 NOT_FOUND before auth; then auth; then
              path ids (400) and existence (404); then body (400); then the
              rules (400/409).
  paging      pageSize >= 1 and pageOffset >= 0 integers, else 400; without
              pageSize everything from pageOffset is returned.
  samples     SampleData = {id, type:"IMAGE", datasetId, fileName, createdAt,
              lastModifiedAt} plus every other field the creating request
              sent (e.g. metaData) at top level.  fileName must be a relative
              path of 1..255 characters without NUL, empty, '.' or '..'
              components; duplicate -> 409 SAMPLE_FILENAME_EXISTS.
  images      readurl answers a JSON string, a signed /blobs/... URL valid
              for --url-ttl seconds; readurlRedirect answers 302 to a fresh
              one.  Bodies: .jpg/.jpeg names get a baseline grey-scale JPEG,
              every other name a PNG (thumbnails too, 2..24 KiB when varied).
              Sizes: metaData.sizeInBytes of the creating request if given
              (clamped to the format's minimum and 64 MiB), else per
              --blob-sizes.  A listed sample without client metaData gets
              metaData {sizeInBytes, shape: [height, width, channels]}; a
              client's metaData is echoed as sent.  A dataset's sizeInBytes is
              the sum of its full bodies (summed on first use: ~0.7 s per
              million varied names).  type=meta serves a small JSON.  An
              unknown sample is 404 SAMPLE_UNKNOWN at readurl, 404 NoSuchKey
              at storage.
  storage     errors are XML (S3 shape, GCS without RequestId/HostId);
              storage never accepts the Lightly token: an unsigned query
              parameter breaks the signature (403), an Authorization header
              is 400 InvalidArgument, and both are counted in withToken.
  tags        a tag's totSize must be an integer >= 0; bits must lie below
              the dataset's current sample count.  A new tag starts with
              changes [] (or one entry when the request carries 'changes').
              PUT appends {userId, creator, ts, changes} where changes is the
              request's 'changes' object or, without one, {"name": {"from",
              "to"}} and/or {"bitMaskData": {"added": n, "removed": n}}.
  arithmetic  a created tag gets totSize max(totSize1, totSize2); an unknown
              tagId1/tagId2 is 404 TAG_UNKNOWN.
  upsize      with no new samples it still creates the (empty, 0x0) tag; the
              initial tag's bits are OR-ed with the new ones; every tag gets
              totSize = nSamples and a new lastModifiedAt.
  exports     LabelStudio task id = sample index.  Without expiresIn the
              publicToken never expires (its expiry field is 0); with it, an
              expired one is 401 at readurlRedirect.  accessControl must match
              [a-zA-Z0-9][a-zA-Z0-9_.-]{0,63} and changes nothing else.
              previewExample=true returns only the first entry.  The old
              paths ignore paging, the new ones honour it.  A tag created by
              arithmetics or upsize starts with one change entry
              {arithmetics: {operation, tag1, tag2}} / {upsize: {from, to}}.
  datasets    names need not be unique; lastModifiedAt moves when samples are
              added (not on tag changes).
  stats       requests to routes that do not exist count as
              '<METHOD> <unknown>'.
  faults      'match' is exactly 'METHOD /route/{template}' (as in stats) or
              '*' ('sample_id' narrows it to one sample); the first added
              fault that matches wins and its count goes down by one.  A 'status' without 'body' serves the error body
              with code INJECTED_FAULT; 'retry_after_s' without 'status'
              implies 429; faults never apply to /_emulator/ requests, and
              faulted requests are counted in stats.
"""


class ApiError(Exception):
    """An answer in the Lightly error shape {code, error, requestId}."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def malformed(message):
    return ApiError(400, "MALFORMED_REQUEST", message)


def now_ms():
    return int(time.time() * 1000)


def random_hex(nbytes):
    return os.urandom(nbytes).hex()


def to_json_bytes(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class IdGen:
    """MongoObjectID-like ids: 4-byte time, 5 random bytes, 3-byte counter.

    A bulk of n ids shares one prefix and a counter run, which keeps
    generating a million of them cheap.
    """

    COUNTER_MAX = 0xFFFFFF

    def __init__(self):
        self._lock = threading.Lock()
        self._prefix = ""
        self._next = self.COUNTER_MAX + 1

    def _take(self, n):
        with self._lock:
            if self._next + n > self.COUNTER_MAX + 1:
                self._prefix = "%08x%s" % (int(time.time()) & 0xFFFFFFFF, random_hex(5))
                self._next = 0
            start = self._next
            self._next += n
            return self._prefix, start

    def one(self):
        prefix, start = self._take(1)
        return "%s%06x" % (prefix, start)

    def many(self, n):
        out = []
        while n > 0:
            chunk = min(n, self.COUNTER_MAX + 1)
            prefix, start = self._take(chunk)
            out.extend([prefix + "%06x" % i for i in range(start, start + chunk)])
            n -= chunk
        return out


IDS = IdGen()


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


# ---------------------------------------------------------------- validation

def need_object(body):
    if not isinstance(body, dict):
        raise malformed("request body must be a JSON object")
    return body


def field_str(body, key, required):
    if key not in body:
        if required:
            raise malformed("missing required field '%s'" % key)
        return None
    val = body[key]
    if not isinstance(val, str):
        raise malformed("field '%s' must be a string" % key)
    return val


def field_int(body, key, required, minimum=0):
    if key not in body:
        if required:
            raise malformed("missing required field '%s'" % key)
        return None
    val = body[key]
    if isinstance(val, bool) or not isinstance(val, int) or val < minimum:
        raise malformed("field '%s' must be an integer >= %d" % (key, minimum))
    return val


def field_id(body, key, required):
    val = field_str(body, key, required)
    if val is not None and not RE_OBJECT_ID.match(val):
        raise malformed("field '%s' is not a MongoObjectID" % key)
    return val


def field_tag_name(body, key, required):
    val = field_str(body, key, required)
    if val is not None and not RE_TAG_NAME.match(val):
        raise malformed("field '%s' is not a valid tag name" % key)
    return val


def field_enum(body, key, allowed, required):
    val = field_str(body, key, required)
    if val is not None and val not in allowed:
        raise malformed("field '%s' must be one of %s" % (key, ", ".join(sorted(allowed))))
    return val


def field_object(body, key):
    if key not in body:
        return None
    if not isinstance(body[key], dict):
        raise malformed("field '%s' must be an object" % key)
    return body[key]


def parse_bitmask(text, n_samples, key="bitMaskData"):
    if not isinstance(text, str) or not RE_BITMASK.match(text):
        raise malformed("field '%s' must match ^0x[a-f0-9]+$ without leading zeros" % key)
    value = int(text, 16)
    if value.bit_length() > n_samples:
        raise malformed("field '%s' sets bit %d but the dataset has %d samples"
                        % (key, value.bit_length() - 1, n_samples))
    return value


def utf8_ok(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_file_name(name):
    if not isinstance(name, str) or not name:
        raise malformed("fileName must be a non-empty string")
    if len(name) > MAX_FILE_NAME_CHARS:
        raise malformed("fileName longer than %d characters" % MAX_FILE_NAME_CHARS)
    if "\x00" in name or not utf8_ok(name):
        raise malformed("fileName contains NUL or invalid unicode")
    if name.startswith("/"):
        raise malformed("fileName must be a relative path")
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise malformed("fileName has an empty, '.' or '..' component")


def check_sample_fields(body):
    """SampleCreateRequest's optional fields: types of what the reference names."""
    field_str(body, "thumbName", False)
    for key in ("exif", "customMetaData", "videoFrameData", "crop"):
        field_object(body, key)
    meta = field_object(body, "metaData")
    if meta is None:
        return
    field_int(meta, "sizeInBytes", False)
    shape = meta.get("shape")
    if shape is not None and (not isinstance(shape, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in shape)):
        raise malformed("field 'metaData.shape' must be an array of integers >= 0")


_BIT_SELECTOR = bytes.maketrans(b"01", b"\x00\x01")


def bit_selector(value):
    """One byte per bit of value, LSB first, 1 where set: an itertools.compress selector."""
    if not value:
        return b""
    return format(value, "b")[::-1].encode("ascii").translate(_BIT_SELECTOR)


def set_bits(value):
    """Indices of the set bits of value, ascending."""
    sel = bit_selector(value)
    return list(itertools.compress(range(len(sel)), sel))


def page_params(query):
    def as_int(key, minimum):
        raw = query.get(key)
        if raw is None:
            return None
        try:
            val = int(raw, 10)
        except ValueError:
            raise malformed("query '%s' must be an integer" % key) from None
        if val < minimum:
            raise malformed("query '%s' must be >= %d" % (key, minimum))
        return val

    offset = as_int("pageOffset", 0) or 0
    size = as_int("pageSize", 1)
    return offset, size


def page_slice(seq, query):
    offset, size = page_params(query)
    return seq[offset:] if size is None else seq[offset:offset + size]


# --------------------------------------------------------------------- state

class Store:
    """All datasets, samples and tags; SQLite for persistence, memory for reads.

    Every public method takes the store lock; SQLite is used with
    check_same_thread=False, only under that lock.
    """

    def __init__(self, path, content_model=None, size_meta="exact"):
        self.lock = threading.RLock()
        self.content = content_model or Content()
        self.size_meta = size_meta
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS datasets (
                k INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, name TEXT NOT NULL,
                type TEXT NOT NULL, img_type TEXT NOT NULL, n_samples INTEGER NOT NULL,
                created_at INTEGER NOT NULL, last_modified_at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS samples (
                ds INTEGER NOT NULL, idx INTEGER NOT NULL, id TEXT NOT NULL,
                file_name TEXT NOT NULL, created_at INTEGER NOT NULL, extra TEXT,
                PRIMARY KEY (ds, idx)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS tags (
                k INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, ds INTEGER NOT NULL,
                prev_tag_id TEXT, query_tag_id TEXT, preselected_tag_id TEXT,
                run_id TEXT, name TEXT NOT NULL, bitmask TEXT NOT NULL,
                tot_size INTEGER NOT NULL, creator TEXT, created_at INTEGER NOT NULL,
                last_modified_at INTEGER NOT NULL, changes TEXT NOT NULL);
        """)
        self.user_id = self._meta("user_id", lambda: IDS.one())
        self.secret = self._meta("secret", lambda: random_hex(32)).encode()
        self._meta("schema_version", lambda: SCHEMA_VERSION)
        self.datasets = {}      # id -> dataset dict, insertion (= creation) order
        self.tags = {}          # id -> tag dict
        self.samples = {}       # dataset k -> SampleIndex, loaded lazily
        for row in self.db.execute(
                "SELECT k, id, name, type, img_type, n_samples, created_at,"
                " last_modified_at FROM datasets ORDER BY k"):
            ds = dict(zip(("k", "id", "name", "type", "img_type", "n_samples",
                           "created_at", "last_modified_at"), row))
            ds["tag_ids"] = []
            self.datasets[ds["id"]] = ds
        by_k = {ds["k"]: ds for ds in self.datasets.values()}
        for row in self.db.execute(
                "SELECT k, id, ds, prev_tag_id, query_tag_id, preselected_tag_id,"
                " run_id, name, bitmask, tot_size, creator, created_at,"
                " last_modified_at, changes FROM tags ORDER BY k"):
            tag = dict(zip(("k", "id", "ds", "prev", "query", "preselected", "run",
                            "name", "bitmask", "tot_size", "creator", "created_at",
                            "last_modified_at", "changes"), row))
            tag["changes"] = json.loads(tag["changes"])
            owner = by_k[tag["ds"]]
            tag["dataset_id"] = owner["id"]
            owner["tag_ids"].append(tag["id"])
            self.tags[tag["id"]] = tag

    def _meta(self, key, make):
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        if row:
            return row[0]
        value = make()
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
        return value

    def meta_flag(self, key):
        with self.lock:
            row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
            return row is not None

    def set_meta_flag(self, key):
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '1')", (key,))

    def close(self):
        with self.lock:
            if self.db is not None:
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self.db.close()
                self.db = None

    # ------------------------------------------------------------ datasets

    def dataset(self, dataset_id):
        ds = self.datasets.get(dataset_id)
        if ds is None:
            raise ApiError(404, "DATASET_UNKNOWN", "dataset %s does not exist" % dataset_id)
        return ds

    def dataset_json(self, ds):
        return {
            "id": ds["id"], "name": ds["name"], "userId": self.user_id,
            "type": ds["type"], "imgType": ds["img_type"],
            "nSamples": ds["n_samples"], "sizeInBytes": self.dataset_bytes(ds),
            "createdAt": ds["created_at"], "lastModifiedAt": ds["last_modified_at"],
        }

    def list_datasets(self):
        with self.lock:
            return [self.dataset_json(ds) for ds in self.datasets.values()]

    def get_dataset(self, dataset_id):
        with self.lock:
            return self.dataset_json(self.dataset(dataset_id))

    def find_dataset_by_name(self, name):
        with self.lock:
            for ds in self.datasets.values():
                if ds["name"] == name:
                    return ds["id"]
            return None

    def create_dataset(self, name, ds_type="Images", img_type="full"):
        with self.lock:
            ts = now_ms()
            ds = {"id": IDS.one(), "name": name, "type": ds_type, "img_type": img_type,
                  "n_samples": 0, "created_at": ts, "last_modified_at": ts, "tag_ids": []}
            cur = self.db.execute(
                "INSERT INTO datasets (id, name, type, img_type, n_samples, created_at,"
                " last_modified_at) VALUES (?, ?, ?, ?, 0, ?, ?)",
                (ds["id"], name, ds_type, img_type, ts, ts))
            ds["k"] = cur.lastrowid
            self.datasets[ds["id"]] = ds
            return ds["id"]

    # ------------------------------------------------------------- samples

    def index(self, ds):
        """The dataset's names and ids in index order (loaded on first use)."""
        idx = self.samples.get(ds["k"])
        if idx is None:
            idx = SampleIndex()
            for sid, name in self.db.execute(
                    "SELECT id, file_name FROM samples WHERE ds=? ORDER BY idx", (ds["k"],)):
                idx.ids.append(sid)
                idx.names.append(name)
            for i, extra in self.db.execute(
                    "SELECT idx, extra FROM samples WHERE ds=? AND extra IS NOT NULL",
                    (ds["k"],)):
                size = explicit_size(json.loads(extra))
                if size is not None:
                    idx.explicit[i] = size
            self.samples[ds["k"]] = idx
        return idx

    def dataset_bytes(self, ds):
        """Sum of the full-size bodies of the dataset's samples (cached, grows on append)."""
        idx = self.index(ds)
        n = len(idx.names)
        if idx.bytes_upto < n:
            part = idx.names[idx.bytes_upto:n]
            total = self.content.total(part)
            for i, size in idx.explicit.items():
                if i >= idx.bytes_upto:
                    name = idx.names[i]
                    total += self.content.size(name, size) - self.content.mode_size(name)
            idx.bytes_total += total
            idx.bytes_upto = n
        return idx.bytes_total

    def sample_content(self, dataset_id, sample_id, img_type):
        """(file name, size) of what storage serves for a sample."""
        with self.lock:
            ds = self.dataset(dataset_id)
            idx = self.index(ds)
            pos = idx.position(sample_id)
            if pos is None:
                raise ApiError(404, "SAMPLE_UNKNOWN", "sample %s does not exist" % sample_id)
            name = idx.names[pos]
            return name, self.content.size(name, idx.explicit.get(pos), img_type)

    def add_samples(self, dataset_id, names, extras=None, unique=True):
        """Append samples; extras (list of dicts or None) are echoed in SampleData."""
        with self.lock:
            ds = self.dataset(dataset_id)
            idx = self.index(ds)
            if unique:
                seen = idx.name_set()
                batch = set()
                for name in names:
                    if name in seen or name in batch:
                        raise ApiError(409, "SAMPLE_FILENAME_EXISTS",
                                       "a sample named %r already exists" % name)
                    batch.add(name)
            ids = IDS.many(len(names))
            ts = now_ms()
            base = ds["n_samples"]
            k = ds["k"]
            if extras is None:
                rows = ((k, base + i, ids[i], names[i], ts, None) for i in range(len(names)))
            else:
                rows = ((k, base + i, ids[i], names[i], ts,
                         json.dumps(extras[i]) if extras[i] else None)
                        for i in range(len(names)))
            self.db.execute("BEGIN")
            try:
                self.db.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?)", rows)
                ds["n_samples"] = base + len(names)
                ds["last_modified_at"] = ts
                self.db.execute("UPDATE datasets SET n_samples=?, last_modified_at=? WHERE k=?",
                                (ds["n_samples"], ts, k))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                ds["n_samples"] = base
                raise
            idx.append(ids, names)
            if extras is not None:
                for i, extra in enumerate(extras):
                    size = explicit_size(extra)
                    if size is not None:
                        idx.explicit[base + i] = size
            return ids

    def sample_rows(self, ds, indices):
        """SampleData objects of the given ascending indices."""
        out = []
        step = 20000
        for start in range(0, len(indices), step):
            part = indices[start:start + step]
            wanted = set(part)
            for row in self.db.execute(
                    "SELECT idx, id, file_name, created_at, extra FROM samples"
                    " WHERE ds=? AND idx BETWEEN ? AND ? ORDER BY idx",
                    (ds["k"], part[0], part[-1])):
                if row[0] in wanted:
                    out.append((row[0], self._sample_json(ds, row)))
        return out

    def _sample_json(self, ds, row):
        pos, sid, name, created, extra = row
        data = {"id": sid, "type": "IMAGE", "datasetId": ds["id"], "fileName": name,
                "createdAt": created, "lastModifiedAt": created}
        extra = json.loads(extra) if extra else {}
        for key, value in extra.items():
            if key not in SAMPLE_RESERVED_KEYS:
                data[key] = value
        meta = data.get("metaData")
        if not isinstance(meta, dict):
            size = self.content.size(name)
            meta = data["metaData"] = {"sizeInBytes": size,
                                       "shape": self.content.shape(name, size)}
        elif "sizeInBytes" in meta:
            meta = data["metaData"] = dict(meta)
        else:
            return data     # the client's metaData without a size, echoed as sent
        true_size = self.content.size(name, explicit_size(extra))
        if self.size_meta == "absent":
            del meta["sizeInBytes"]
        elif self.size_meta == "smaller":
            meta["sizeInBytes"] = true_size - max(1, true_size // 4)
        elif self.size_meta == "larger":
            meta["sizeInBytes"] = true_size + max(1, true_size // 4)
        return data

    def _sample_rows(self, dataset_id, query):
        ds = self.dataset(dataset_id)
        offset, size = page_params(query)
        end = ds["n_samples"] if size is None else min(ds["n_samples"], offset + size)
        if offset >= end:
            return ds, []
        return ds, self.db.execute(
            "SELECT idx, id, file_name, created_at, extra FROM samples"
            " WHERE ds=? AND idx >= ? AND idx < ? ORDER BY idx",
            (ds["k"], offset, end)).fetchall()

    def list_samples(self, dataset_id, query):
        with self.lock:
            ds, rows = self._sample_rows(dataset_id, query)
            return [self._sample_json(ds, row) for row in rows]

    def _meta_text(self, name):
        """The metaData text _sample_json gives a sample without client fields."""
        size = self.content.size(name)
        shape = "[%d,%d,%d]" % tuple(self.content.shape(name, size))
        if self.size_meta == "absent":
            return '{"shape":%s}' % shape
        if self.size_meta == "smaller":
            size -= max(1, size // 4)
        elif self.size_meta == "larger":
            size += max(1, size // 4)
        return '{"sizeInBytes":%d,"shape":%s}' % (size, shape)

    def list_samples_body(self, dataset_id, query):
        """to_json_bytes(list_samples(...)), the same bytes, with the samples
        that carry no client fields (all the bulk routes make) written from a
        template: a dict and json.dumps per row made the 500 pages of a
        million samples cost the emulator 12 s of CPU, most of a first
        `ls -l` of the mount."""
        with self.lock:
            ds, rows = self._sample_rows(dataset_id, query)
            head = '{"id":"%s","type":"IMAGE","datasetId":"' + ds["id"] + '","fileName":'
            dumps = json.dumps
            metas = {}  # fixed sizes: a few kinds of name, a few metaData texts
            parts = []
            for row in rows:
                _, sid, name, created, extra = row
                if extra:
                    parts.append(to_json_bytes(self._sample_json(ds, row)).decode("utf-8"))
                    continue
                if self.content.mode == "fixed":
                    kind = content.kind_of(name)
                    meta = metas.get(kind)
                    if meta is None:
                        meta = metas[kind] = self._meta_text(name)
                else:
                    meta = self._meta_text(name)
                parts.append(head % sid + dumps(name, ensure_ascii=False)
                             + ',"createdAt":%d,"lastModifiedAt":%d,"metaData":%s}'
                             % (created, created, meta))
        return ("[" + ",".join(parts) + "]").encode("utf-8")

    def mapping_lists(self, dataset_id):
        """(names, ids, count): shared append-only lists, safe to slice unlocked."""
        with self.lock:
            ds = self.dataset(dataset_id)
            idx = self.index(ds)
            return idx.names, idx.ids, ds["n_samples"]

    def sample_index_of(self, dataset_id, sample_id):
        with self.lock:
            ds = self.dataset(dataset_id)
            pos = self.index(ds).position(sample_id)
            if pos is None:
                raise ApiError(404, "SAMPLE_UNKNOWN", "sample %s does not exist" % sample_id)
            return pos

    # ---------------------------------------------------------------- tags

    def tag_json(self, tag):
        data = {"id": tag["id"], "datasetId": tag["dataset_id"], "prevTagId": tag["prev"]}
        if tag["query"]:
            data["queryTagId"] = tag["query"]
        if tag["preselected"]:
            data["preselectedTagId"] = tag["preselected"]
        data.update({"name": tag["name"], "bitMaskData": tag["bitmask"],
                     "totSize": tag["tot_size"], "createdAt": tag["created_at"],
                     "lastModifiedAt": tag["last_modified_at"],
                     "changes": list(tag["changes"])})
        if tag["run"]:
            data["runId"] = tag["run"]
        return data

    def tag(self, ds, tag_id):
        tag = self.tags.get(tag_id)
        if tag is None or tag["dataset_id"] != ds["id"]:
            raise ApiError(404, "TAG_UNKNOWN", "tag %s does not exist in dataset %s"
                           % (tag_id, ds["id"]))
        return tag

    def initial_tag(self, ds):
        for tag_id in ds["tag_ids"]:
            if self.tags[tag_id]["prev"] is None:
                return self.tags[tag_id]
        return None

    def _check_name_free(self, ds, name, except_id=None):
        for tag_id in ds["tag_ids"]:
            if tag_id != except_id and self.tags[tag_id]["name"] == name:
                raise ApiError(409, "TAG_NAME_EXISTS",
                               "a tag named %r already exists in this dataset" % name)

    def _insert_tag(self, ds, name, prev, mask, tot_size, creator=None, query=None,
                    preselected=None, run=None, changes=None):
        ts = now_ms()
        tag = {"id": IDS.one(), "ds": ds["k"], "dataset_id": ds["id"], "prev": prev,
               "query": query, "preselected": preselected, "run": run, "name": name,
               "bitmask": hex(mask), "tot_size": tot_size, "creator": creator,
               "created_at": ts, "last_modified_at": ts, "changes": []}
        if changes is not None:
            tag["changes"].append({"userId": self.user_id, "creator": creator or "UNKNOWN",
                                   "ts": ts, "changes": changes})
        cur = self.db.execute(
            "INSERT INTO tags (id, ds, prev_tag_id, query_tag_id, preselected_tag_id,"
            " run_id, name, bitmask, tot_size, creator, created_at, last_modified_at,"
            " changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (tag["id"], ds["k"], prev, query, preselected, run, name, tag["bitmask"],
             tot_size, creator, ts, ts, json.dumps(tag["changes"])))
        tag["k"] = cur.lastrowid
        self.tags[tag["id"]] = tag
        ds["tag_ids"].append(tag["id"])
        return tag["id"]

    def _save_tag(self, tag):
        self.db.execute(
            "UPDATE tags SET name=?, bitmask=?, tot_size=?, last_modified_at=?, changes=?"
            " WHERE k=?", (tag["name"], tag["bitmask"], tag["tot_size"],
                           tag["last_modified_at"], json.dumps(tag["changes"]), tag["k"]))

    def list_tags(self, dataset_id):
        with self.lock:
            ds = self.dataset(dataset_id)
            return [self.tag_json(self.tags[t]) for t in ds["tag_ids"]]

    def get_tag(self, dataset_id, tag_id):
        with self.lock:
            return self.tag_json(self.tag(self.dataset(dataset_id), tag_id))

    def create_initial_tag(self, dataset_id, body):
        with self.lock:
            ds = self.dataset(dataset_id)
            need_object(body)
            field_enum(body, "imgType", IMAGE_TYPES, True)
            name = field_tag_name(body, "name", False) or INITIAL_TAG_NAME
            creator = field_enum(body, "creator", TAG_CREATORS, False)
            run = field_id(body, "runId", False)
            if self.initial_tag(ds) is not None:
                raise ApiError(409, "TAG_INITIAL_EXISTS", "the dataset already has an initial tag")
            self._check_name_free(ds, name)
            n = ds["n_samples"]
            return self._insert_tag(ds, name, None, (1 << n) - 1, n, creator=creator, run=run)

    def create_tag(self, dataset_id, body):
        with self.lock:
            ds = self.dataset(dataset_id)
            need_object(body)
            name = field_tag_name(body, "name", True)
            prev = field_id(body, "prevTagId", True)
            query = field_id(body, "queryTagId", False)
            preselected = field_id(body, "preselectedTagId", False)
            if "bitMaskData" not in body:
                raise malformed("missing required field 'bitMaskData'")
            mask = parse_bitmask(body["bitMaskData"], ds["n_samples"])
            tot_size = field_int(body, "totSize", True)
            creator = field_enum(body, "creator", TAG_CREATORS, False)
            changes = field_object(body, "changes")
            run = field_id(body, "runId", False)
            if not ds["tag_ids"]:
                raise ApiError(400, "TAG_NO_TAG_IN_DATASET",
                               "the dataset has no tags; create the initial tag first")
            prev_tag = self.tags.get(prev)
            if prev_tag is None or prev_tag["dataset_id"] != ds["id"]:
                raise ApiError(400, "TAG_PREVTAG_NOT_IN_DATASET",
                               "prevTagId %s is not a tag of this dataset" % prev)
            self._check_name_free(ds, name)
            return self._insert_tag(ds, name, prev, mask, tot_size, creator=creator,
                                    query=query, preselected=preselected, run=run,
                                    changes=changes)

    def update_tag(self, dataset_id, tag_id, body):
        with self.lock:
            ds = self.dataset(dataset_id)
            tag = self.tag(ds, tag_id)
            need_object(body)
            name = field_tag_name(body, "name", True)
            mask = None
            if "bitMaskData" in body:
                mask = parse_bitmask(body["bitMaskData"], ds["n_samples"])
            creator = field_enum(body, "updateCreator", TAG_CREATORS, False)
            changes = field_object(body, "changes")
            self._check_name_free(ds, name, except_id=tag["id"])
            derived = {}
            if name != tag["name"]:
                derived["name"] = {"from": tag["name"], "to": name}
            if mask is not None:
                old = int(tag["bitmask"], 16)
                if mask != old:
                    derived["bitMaskData"] = {"added": bin(mask & ~old).count("1"),
                                              "removed": bin(old & ~mask).count("1")}
                tag["bitmask"] = hex(mask)
            tag["name"] = name
            ts = now_ms()
            tag["last_modified_at"] = ts
            tag["changes"].append({"userId": self.user_id, "creator": creator or "UNKNOWN",
                                   "ts": ts,
                                   "changes": changes if changes is not None else derived})
            self._save_tag(tag)

    def delete_tag(self, dataset_id, tag_id):
        with self.lock:
            ds = self.dataset(dataset_id)
            tag = self.tag(ds, tag_id)
            if tag["prev"] is None:
                raise ApiError(400, "TAG_UNDELETABLE_IS_INITIAL",
                               "the initial tag cannot be deleted")
            for other in ds["tag_ids"]:
                if self.tags[other]["prev"] == tag["id"]:
                    raise ApiError(400, "TAG_UNDELETABLE_NOT_A_LEAF",
                                   "tag %s is the prevTagId of tag %s" % (tag["id"], other))
            self.db.execute("DELETE FROM tags WHERE k=?", (tag["k"],))
            ds["tag_ids"].remove(tag["id"])
            del self.tags[tag["id"]]

    def tag_mask(self, dataset_id, tag_id):
        """(dataset, tag mask int) for read-only uses such as filenames."""
        with self.lock:
            ds = self.dataset(dataset_id)
            return ds, int(self.tag(ds, tag_id)["bitmask"], 16)

    def arithmetics(self, dataset_id, body, create):
        with self.lock:
            ds = self.dataset(dataset_id)
            need_object(body)
            id1 = field_id(body, "tagId1", True)
            id2 = field_id(body, "tagId2", True)
            op = field_enum(body, "operation", OPERATIONS, True)
            new_name = field_tag_name(body, "newTagName", False)
            creator = field_enum(body, "creator", TAG_CREATORS, False)
            run = field_id(body, "runId", False)
            if not create:
                new_name = None
            t1, t2 = self.tag(ds, id1), self.tag(ds, id2)
            a, b = int(t1["bitmask"], 16), int(t2["bitmask"], 16)
            if op == "UNION":
                mask = a | b
            elif op == "INTERSECTION":
                mask = a & b
            else:
                mask = a & ~b
            if new_name is None:
                return {"bitMaskData": hex(mask)}
            self._check_name_free(ds, new_name)
            tag_id = self._insert_tag(ds, new_name, t1["id"], mask,
                                      max(t1["tot_size"], t2["tot_size"]),
                                      creator=creator, run=run, changes={
                                          "arithmetics": {"operation": op, "tag1": t1["name"],
                                                          "tag2": t2["name"]}})
            return {"id": tag_id}

    def upsize(self, dataset_id, body):
        with self.lock:
            ds = self.dataset(dataset_id)
            need_object(body)
            name = field_tag_name(body, "upsizeTagName", True)
            creator = field_enum(body, "upsizeTagCreator", TAG_CREATORS, True)
            run = field_id(body, "runId", False)
            initial = self.initial_tag(ds)
            if initial is None:
                raise ApiError(400, "TAG_NO_TAG_IN_DATASET",
                               "the dataset has no initial tag to upsize")
            self._check_name_free(ds, name)
            old, new = initial["tot_size"], ds["n_samples"]
            added = ((1 << new) - 1) & ~((1 << old) - 1)
            ts = now_ms()
            self.db.execute("BEGIN")
            try:
                initial["bitmask"] = hex(int(initial["bitmask"], 16) | added)
                for tid in ds["tag_ids"]:
                    tag = self.tags[tid]
                    tag["tot_size"] = new
                    tag["last_modified_at"] = ts
                    self._save_tag(tag)
                tag_id = self._insert_tag(ds, name, initial["id"], added, new,
                                          creator=creator, run=run,
                                          changes={"upsize": {"from": old, "to": new}})
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            return tag_id


class SampleIndex:
    """One dataset's sample names and ids in index order, plus lazy lookups."""

    def __init__(self):
        self.names = []
        self.ids = []
        self.explicit = {}      # index -> metaData.sizeInBytes the creating request gave
        self.bytes_total = 0    # dataset_bytes() of names[:bytes_upto]
        self.bytes_upto = 0
        self._name_set = None
        self._id_pos = None

    def append(self, ids, names):
        start = len(self.ids)
        self.ids.extend(ids)
        self.names.extend(names)
        if self._name_set is not None:
            self._name_set.update(names)
        if self._id_pos is not None:
            for i, sid in enumerate(ids):
                self._id_pos[sid] = start + i

    def name_set(self):
        if self._name_set is None:
            self._name_set = set(self.names)
        return self._name_set

    def position(self, sample_id):
        if self._id_pos is None:
            self._id_pos = {sid: i for i, sid in enumerate(self.ids)}
        return self._id_pos.get(sample_id)


# ------------------------------------------------------ stats and faults

class Stats:
    """Request counters keyed by 'METHOD /route/{template}'."""

    STORAGE_KEYS = ("requests", "bytes", "withToken", "withAuthorization", "head", "ranges")

    def __init__(self):
        self.lock = threading.Lock()
        self.total = 0
        self.routes = {}
        self.in_flight = {}      # route -> requests being served now
        self.max_in_flight = {}  # route -> most served at once since reset
        self.peers = {}          # route -> client (host, port)s seen since reset
        self._zero_storage()

    def _zero_storage(self):
        self.storage = dict.fromkeys(self.STORAGE_KEYS, 0)
        self.storage["byStatus"] = {}

    def count(self, key):
        with self.lock:
            self.total += 1
            self.routes[key] = self.routes.get(key, 0) + 1

    def enter(self, key, peer):
        """A request of route key is being served, from connection peer."""
        with self.lock:
            n = self.in_flight.get(key, 0) + 1
            self.in_flight[key] = n
            self.max_in_flight[key] = max(self.max_in_flight.get(key, 0), n)
            self.peers.setdefault(key, set()).add(peer)

    def leave(self, key):
        with self.lock:
            self.in_flight[key] -= 1

    def count_blob(self, method, with_token, with_auth, ranged):
        with self.lock:
            st = self.storage
            st["requests"] += 1
            st["withToken"] += bool(with_token)
            st["withAuthorization"] += bool(with_auth)
            st["head"] += method == "HEAD"
            st["ranges"] += bool(ranged)

    def blob_sent(self, status, nbytes):
        with self.lock:
            st = self.storage
            st["bytes"] += nbytes
            key = str(status)
            st["byStatus"][key] = st["byStatus"].get(key, 0) + 1

    def blob_bytes(self, nbytes):
        with self.lock:
            self.storage["bytes"] += nbytes

    def storage_snapshot(self):
        with self.lock:
            out = dict(self.storage)
            out["byStatus"] = dict(sorted(self.storage["byStatus"].items()))
            return out

    def snapshot(self):
        with self.lock:
            snap = {"total": self.total, "routes": dict(sorted(self.routes.items())),
                    "maxInFlight": dict(sorted(self.max_in_flight.items())),
                    "connections": {k: len(v) for k, v in sorted(self.peers.items())}}
            busy = self.storage["requests"] > 0
        if busy:
            snap["storage"] = self.storage_snapshot()
        return snap

    def reset(self):
        with self.lock:
            self.total = 0
            self.routes = {}
            self.max_in_flight = {}
            self.peers = {}
            self._zero_storage()


class Faults:
    """Injected failures, matched in the order they were added."""

    KEYS = ("match", "status", "count", "delay_ms", "answer_delay_ms", "retry_after_s",
            "drop", "truncate", "body", "rate_bps", "reset_after_bytes",
            "truncate_after_bytes", "sample_id")

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    @staticmethod
    def validate(spec):
        need_object(spec)
        unknown = sorted(set(spec) - set(Faults.KEYS))
        if unknown:
            raise malformed("unknown fault keys: %s" % ", ".join(unknown))
        match = field_str(spec, "match", True)
        if match != "*" and not re.match(r"[A-Z]+ /\S*\Z", match):
            raise malformed("match must be '*' or 'METHOD /route/{template}'")
        fault = {"id": random_hex(12), "match": match}
        if "status" in spec:
            status = field_int(spec, "status", True, minimum=100)
            if status > 599:
                raise malformed("status must be 100..599")
            fault["status"] = status
        for key in ("count", "delay_ms", "answer_delay_ms", "retry_after_s", "rate_bps",
                    "reset_after_bytes", "truncate_after_bytes"):
            if key in spec:
                fault[key] = field_int(spec, key, True,
                                       minimum=1 if key in ("count", "rate_bps") else 0)
        if "sample_id" in spec:
            fault["sample_id"] = field_id(spec, "sample_id", True)
        for key in ("drop", "truncate"):
            if key in spec:
                if not isinstance(spec[key], bool):
                    raise malformed("'%s' must be a boolean" % key)
                fault[key] = spec[key]
        if "body" in spec:
            body = spec["body"]
            fault["body"] = body if isinstance(body, str) else json.dumps(body)
        return fault

    def add(self, spec):
        fault = self.validate(spec)
        with self.lock:
            self.items.append(fault)
        return fault

    def list(self):
        with self.lock:
            return [dict(f) for f in self.items]

    def clear(self):
        with self.lock:
            self.items = []

    def take(self, key, params=None):
        """The first fault matching key (its count used up by one), or None."""
        with self.lock:
            for i, fault in enumerate(self.items):
                if "sample_id" in fault and (params or {}).get("sampleId") != fault["sample_id"]:
                    continue
                if fault["match"] in ("*", key):
                    if "count" in fault:
                        fault["count"] -= 1
                        if fault["count"] <= 0:
                            del self.items[i]
                    return dict(fault)
        return None


# -------------------------------------------------------------- routing

class Request:
    def __init__(self, method, path, query, headers, body, params, host):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.raw_body = body
        self.params = params
        self.host = host

    def json(self):
        if not self.raw_body:
            raise malformed("request body is empty")
        try:
            text = self.raw_body.decode("utf-8")
            return json.loads(text, parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise malformed("request body is not valid JSON: %s" % exc) from None


def _reject_constant(name):
    raise ValueError("%s is not JSON" % name)


class Response:
    def __init__(self, status, body=b"", content_type="application/json", headers=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or []


def parse_range(header, total):
    """(start, end) of a single 'bytes=' range, 'unsatisfiable', or None to serve all.

    A missing, malformed or multi-range header is ignored (the whole object,
    200), as S3 does with ranges it does not support.
    """
    if header is None:
        return None
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    if m.group(1) == "":
        n = int(m.group(2))
        if n == 0:
            return "unsatisfiable"
        return max(0, total - n), total - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else None
    if end is not None and end < start:
        return None
    if start >= total:
        return "unsatisfiable"
    end = total - 1 if end is None else end
    return start, min(end, total - 1)


def json_response(status, obj):
    return Response(status, to_json_bytes(obj))


def error_response(status, code, message):
    return json_response(status, {"code": code, "error": message, "requestId": random_hex(12)})


BLOB_ROUTE = "/blobs/{datasetId}/{sampleId}"
AUTH_TOKEN = "token"
AUTH_NONE = "none"
AUTH_PUBLIC = "public"


class Router:
    def __init__(self):
        self.routes = []

    def add(self, method, template, handler, auth=AUTH_TOKEN):
        parts = template.strip("/").split("/")
        self.routes.append((method, template, parts, handler, auth))

    def match(self, method, path):
        """(template, handler, auth, params) of the most literal match, or None."""
        parts = path.strip("/").split("/") if path != "/" else [""]
        if path.endswith("/") and path != "/":
            return None
        best = None
        for r_method, template, r_parts, handler, auth in self.routes:
            if r_method != method or len(r_parts) != len(parts):
                continue
            params = {}
            literals = 0
            for want, got in zip(r_parts, parts):
                if want.startswith("{"):
                    params[want[1:-1]] = unquote(got)
                elif want == got:
                    literals += 1
                else:
                    break
            else:
                if best is None or literals > best[0]:
                    best = (literals, template, handler, auth, params)
        return None if best is None else best[1:]


class Emulator:
    """Route handlers; they turn a Request into a Response or raise ApiError."""

    def __init__(self, store, token, verbose=False, url_ttl=DEFAULT_EXPIRES_IN_S,
                 storage="s3", storage_base=None, paged_exports=True):
        self.store = store
        self.token = token
        self.verbose = verbose
        self.url_ttl = url_ttl
        self.storage = storage
        self.storage_base = storage_base    # "http://host:port" of a storage port, or None
        self.paged_exports = paged_exports
        self.stats = Stats()
        self.faults = Faults()
        self.router = Router()
        ds, tag, smp = "{datasetId}", "{tagId}", "{sampleId}"
        add = self.router.add
        add("GET", "/v1/versions/pip/minimum", self.h_pip_minimum, AUTH_NONE)
        add("GET", "/v1/versions/pip/latest", self.h_pip_latest, AUTH_NONE)
        add("GET", "/v1/datasets", self.h_list_datasets)
        add("POST", "/v1/datasets", self.h_create_dataset)
        add("GET", "/v1/datasets/%s" % ds, self.h_get_dataset)
        add("GET", "/v1/datasets/%s/samples" % ds, self.h_list_samples)
        add("POST", "/v1/datasets/%s/samples" % ds, self.h_create_sample)
        add("GET", "/v1/datasets/%s/mappings" % ds, self.h_mappings)
        add("GET", "/v1/datasets/%s/samples/%s/readurl" % (ds, smp), self.h_readurl)
        add("GET", "/v1/datasets/%s/samples/%s/readurlRedirect" % (ds, smp),
            self.h_readurl_redirect, AUTH_PUBLIC)
        add("GET", "/v1/datasets/%s/tags" % ds, self.h_list_tags)
        add("POST", "/v1/datasets/%s/tags" % ds, self.h_create_tag)
        add("POST", "/v1/datasets/%s/tags/initial" % ds, self.h_create_initial_tag)
        add("POST", "/v1/datasets/%s/tags/arithmetics" % ds, self.h_arithmetics)
        add("POST", "/v1/datasets/%s/tags/arithmetics/bitmask" % ds, self.h_arithmetics_bitmask)
        add("POST", "/v1/datasets/%s/tags/upsize" % ds, self.h_upsize)
        add("GET", "/v1/datasets/%s/tags/%s" % (ds, tag), self.h_get_tag)
        add("PUT", "/v1/datasets/%s/tags/%s" % (ds, tag), self.h_update_tag)
        add("DELETE", "/v1/datasets/%s/tags/%s" % (ds, tag), self.h_delete_tag)
        add("GET", "/v1/datasets/%s/tags/%s/filenames" % (ds, tag), self.h_filenames)
        add("GET", "/v1/datasets/%s/tags/%s/export/LabelStudioTasks" % (ds, tag),
            self.h_export_labelstudio_old)
        add("GET", "/v1/datasets/%s/tags/%s/export/LabelBoxDataRows" % (ds, tag),
            self.h_export_labelbox_old)
        if paged_exports:
            add("GET", "/v1/datasets/%s/tags/%s/export/LabelStudio/tasks" % (ds, tag),
                self.h_export_labelstudio_new)
            add("GET", "/v1/datasets/%s/tags/%s/export/LabelBox/datarows" % (ds, tag),
                self.h_export_labelbox_new)
        add("GET", "/v1/datasets/%s/tags/%s/export/basic/filenames" % (ds, tag),
            self.h_export_basic_filenames)
        add("GET", "/v1/datasets/%s/tags/%s/export/basic/filenamesAndReadUrls" % (ds, tag),
            self.h_export_basic_read_urls)
        add("GET", BLOB_ROUTE, self.h_blob, AUTH_NONE)
        add("HEAD", BLOB_ROUTE, self.h_blob, AUTH_NONE)
        add("GET", "/_emulator/info", self.h_info, AUTH_NONE)
        add("GET", "/_emulator/stats/storage", self.h_stats_storage, AUTH_NONE)
        add("GET", "/_emulator/health", self.h_health, AUTH_NONE)
        add("GET", "/_emulator/stats", self.h_stats, AUTH_NONE)
        add("POST", "/_emulator/stats/reset", self.h_stats_reset, AUTH_NONE)
        add("GET", "/_emulator/faults", self.h_faults_list, AUTH_NONE)
        add("POST", "/_emulator/faults", self.h_faults_add, AUTH_NONE)
        add("DELETE", "/_emulator/faults", self.h_faults_clear, AUTH_NONE)
        add("POST", "/_emulator/datasets/%s/samples" % ds, self.h_raw_samples, AUTH_NONE)

    # ------------------------------------------------------------ pipeline

    def authorized(self, req):
        token = req.query.get("token")
        if token is None:
            auth = req.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                token = auth[len("Bearer "):].strip()
        return token is not None and hmac.compare_digest(token.encode(), self.token.encode())

    def handle(self, req, handler, auth):
        if auth == AUTH_TOKEN and not self.authorized(req):
            raise ApiError(401, "UNAUTHORIZED", "missing or invalid API token")
        for key, value in req.params.items():
            if not RE_OBJECT_ID.match(value):
                raise malformed("path parameter %s=%r is not a MongoObjectID" % (key, value))
        if auth == AUTH_PUBLIC and not self.authorized(req):
            self.check_public_token(req)
        return handler(req)

    # ----------------------------------------------------------- signatures

    def sign(self, *parts):
        msg = "/".join(str(p) for p in parts).encode()
        return hmac.new(self.store.secret, msg, hashlib.sha256).hexdigest()[:32]

    def public_token(self, ds_id, sample_id, expires_in):
        """expires_in None: a token that never expires (its expiry field is 0)."""
        exp = 0 if expires_in is None else int(time.time()) + expires_in
        return "%d.%s" % (exp, self.sign("public", ds_id, sample_id, exp))

    def check_public_token(self, req):
        token = req.query.get("publicToken")
        if token is None:
            raise ApiError(401, "UNAUTHORIZED", "missing or invalid API token")
        exp, _, sig = token.partition(".")
        good = exp.isdigit() and hmac.compare_digest(
            sig, self.sign("public", req.params["datasetId"], req.params["sampleId"], exp))
        if not good:
            raise ApiError(401, "UNAUTHORIZED", "invalid publicToken")
        if int(exp) != 0 and int(exp) < time.time():
            raise ApiError(401, "UNAUTHORIZED", "publicToken expired")

    def blob_url(self, host, ds_id, sample_id, img_type, expires_in=None):
        exp = int(time.time()) + (self.url_ttl if expires_in is None else expires_in)
        sig = self.sign("blob", ds_id, sample_id, img_type, exp)
        base = self.storage_base or "http://%s" % host
        return "%s/blobs/%s/%s?type=%s&exp=%d&sig=%s" % (
            base, ds_id, sample_id, img_type, exp, sig)

    def redirect_url(self, host, ds_id, sample_id, expires_in):
        return ("http://%s/v1/datasets/%s/samples/%s/readurlRedirect?type=full&publicToken=%s"
                % (host, ds_id, sample_id, quote(self.public_token(ds_id, sample_id, expires_in))))

    # ------------------------------------------------------------ handlers

    def h_pip_minimum(self, req):
        return json_response(200, PIP_MINIMUM)

    def h_pip_latest(self, req):
        return json_response(200, PIP_LATEST)

    def h_list_datasets(self, req):
        return json_response(200, page_slice(self.store.list_datasets(), req.query))

    def h_create_dataset(self, req):
        body = need_object(req.json())
        name = field_str(body, "name", True)
        if not RE_DATASET_NAME.match(name):
            raise malformed("field 'name' is not a valid dataset name")
        ds_type = field_enum(body, "type", DATASET_TYPES, False) or "Images"
        img_type = field_enum(body, "imgType", IMAGE_TYPES, False) or "full"
        return json_response(201, {"id": self.store.create_dataset(name, ds_type, img_type)})

    def h_get_dataset(self, req):
        return json_response(200, self.store.get_dataset(req.params["datasetId"]))

    def h_list_samples(self, req):
        return Response(200, self.store.list_samples_body(req.params["datasetId"], req.query))

    def h_create_sample(self, req):
        self.store.get_dataset(req.params["datasetId"])
        body = need_object(req.json())
        if "fileName" not in body:
            raise malformed("missing required field 'fileName'")
        check_file_name(body["fileName"])
        check_sample_fields(body)
        extra = {k: v for k, v in body.items() if k not in SAMPLE_RESERVED_KEYS}
        ids = self.store.add_samples(req.params["datasetId"], [body["fileName"]], [extra])
        return json_response(201, {"id": ids[0]})

    def h_raw_samples(self, req):
        self.store.get_dataset(req.params["datasetId"])
        body = need_object(req.json())
        names = body.get("fileNames")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise malformed("'fileNames' must be an array of strings")
        if not all(utf8_ok(n) for n in names):
            raise malformed("'fileNames' holds a string that is not valid unicode")
        self.store.add_samples(req.params["datasetId"], names, unique=False)
        return json_response(201, {"count": len(names),
                                   "nSamples": self.store.get_dataset(
                                       req.params["datasetId"])["nSamples"]})

    def h_mappings(self, req):
        field = req.query.get("field")
        if field not in ("fileName", "_id"):
            raise malformed("query 'field' must be 'fileName' or '_id'")
        names, ids, count = self.store.mapping_lists(req.params["datasetId"])
        seq = names if field == "fileName" else ids
        offset, size = page_params(req.query)
        end = count if size is None else min(count, offset + size)
        return json_response(200, seq[offset:end] if offset < end else [])

    def _img_type(self, req):
        img_type = req.query.get("type", "full")
        if img_type not in IMAGE_TYPES:
            raise malformed("query 'type' must be one of %s" % ", ".join(IMAGE_TYPES))
        return img_type

    def h_readurl(self, req):
        ds_id, sample_id = req.params["datasetId"], req.params["sampleId"]
        img_type = self._img_type(req)
        self.store.sample_index_of(ds_id, sample_id)
        return json_response(200, self.blob_url(req.host, ds_id, sample_id, img_type))

    def h_readurl_redirect(self, req):
        ds_id, sample_id = req.params["datasetId"], req.params["sampleId"]
        img_type = self._img_type(req)
        self.store.sample_index_of(ds_id, sample_id)
        url = self.blob_url(req.host, ds_id, sample_id, img_type)
        return Response(302, to_json_bytes(url), headers=[("Location", url)])

    # --------------------------------------------------------------- storage

    def storage_error(self, status, code, message, extra=()):
        """An S3/GCS-style XML error; GCS leaves out RequestId and HostId."""
        parts = ["<Code>%s</Code><Message>%s</Message>" % (code, message)]
        parts.extend("<%s>%s</%s>" % (k, v, k) for k, v in extra)
        if self.storage == "s3":
            parts.append("<RequestId>%s</RequestId><HostId>%s</HostId>"
                         % (random_hex(8).upper(), random_hex(24)))
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>%s</Error>"
                % "".join(parts)).encode()
        return Response(status, body, content_type="application/xml")

    def storage_expired(self, exp):
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(exp)))
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.storage == "gcs":
            return self.storage_error(400, "ExpiredToken", "The provided token has expired.",
                                      [("Details", "Request signature expired at: %s" % when)])
        return self.storage_error(403, "AccessDenied", "Request has expired",
                                  [("Expires", when), ("ServerTime", now)])

    def h_blob(self, req):
        ds_id, sample_id = req.params["datasetId"], req.params["sampleId"]
        if req.method == "HEAD":    # the URL is signed for GET only, as S3 and GCS sign them
            return Response(403, b"", content_type="application/xml")
        img_type, exp, sig = (req.query.get(k, "") for k in ("type", "exp", "sig"))
        if not exp.isdigit() or not hmac.compare_digest(
                sig, self.sign("blob", ds_id, sample_id, img_type, exp)):
            return self.storage_error(
                403, "SignatureDoesNotMatch", "The request signature we calculated does not "
                "match the signature you provided.")
        unsigned = sorted(set(req.query) - {"type", "exp", "sig"})
        if unsigned:
            return self.storage_error(
                403, "SignatureDoesNotMatch", "The request signature we calculated does not "
                "match the signature you provided (unsigned query parameter %s)."
                % ", ".join(unsigned))
        if req.headers.get("Authorization") is not None:
            return self.storage_error(
                400, "InvalidArgument", "Only one auth mechanism allowed; only the "
                "signed query string or the Authorization header should be specified")
        if int(exp) < time.time():
            return self.storage_expired(exp)
        try:
            name, size = self.store.sample_content(ds_id, sample_id, img_type)
        except ApiError:
            return self.storage_error(404, "NoSuchKey", "The specified key does not exist.")
        if img_type == "meta":
            data = to_json_bytes({"fileName": name, "sizeInBytes": self.store.content.size(
                name, None), "sampleId": sample_id})
            ctype = "application/json"
            etag = '"%s"' % hashlib.md5(data).hexdigest()
        else:
            data, ctype, etag = self.store.content.body_etag(sample_id, name, size, img_type)
        total = len(data)
        headers = [("Accept-Ranges", "bytes"),
                   ("ETag", etag),
                   ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")]
        rng = parse_range(req.headers.get("Range"), total)
        if rng is None:
            return Response(200, data, content_type=ctype, headers=headers)
        if rng == "unsatisfiable":
            resp = self.storage_error(416, "InvalidRange",
                                      "The requested range is not satisfiable",
                                      [("RangeRequested", req.headers.get("Range")),
                                       ("ActualObjectSize", total)])
            resp.headers.append(("Content-Range", "bytes */%d" % total))
            return resp
        start, end = rng
        headers.append(("Content-Range", "bytes %d-%d/%d" % (start, end, total)))
        # a view, not a copy: storage answers a range at the cost of the
        # whole (a copy of each range made ranged readers pay twice)
        return Response(206, memoryview(data)[start:end + 1], content_type=ctype,
                        headers=headers)

    def h_list_tags(self, req):
        return json_response(200, self.store.list_tags(req.params["datasetId"]))

    def h_get_tag(self, req):
        return json_response(200, self.store.get_tag(req.params["datasetId"],
                                                     req.params["tagId"]))

    def _body_after_dataset(self, req):
        self.store.get_dataset(req.params["datasetId"])
        return req.json()

    def h_create_tag(self, req):
        body = self._body_after_dataset(req)
        return json_response(201, {"id": self.store.create_tag(req.params["datasetId"], body)})

    def h_create_initial_tag(self, req):
        body = self._body_after_dataset(req)
        return json_response(201, {"id": self.store.create_initial_tag(
            req.params["datasetId"], body)})

    def h_update_tag(self, req):
        self.store.get_tag(req.params["datasetId"], req.params["tagId"])
        self.store.update_tag(req.params["datasetId"], req.params["tagId"], req.json())
        return Response(204)

    def h_delete_tag(self, req):
        self.store.delete_tag(req.params["datasetId"], req.params["tagId"])
        return Response(204)

    def h_arithmetics(self, req):
        body = self._body_after_dataset(req)
        return json_response(200, self.store.arithmetics(req.params["datasetId"], body, True))

    def h_arithmetics_bitmask(self, req):
        body = self._body_after_dataset(req)
        return json_response(200, self.store.arithmetics(req.params["datasetId"], body, False))

    def h_upsize(self, req):
        body = self._body_after_dataset(req)
        return json_response(201, {"id": self.store.upsize(req.params["datasetId"], body)})

    def _tag_indices(self, req):
        ds, mask = self.store.tag_mask(req.params["datasetId"], req.params["tagId"])
        return ds, set_bits(mask)

    def h_filenames(self, req):
        ds, mask = self.store.tag_mask(req.params["datasetId"], req.params["tagId"])
        names, _, _ = self.store.mapping_lists(ds["id"])
        return json_response(200, list(itertools.compress(names, bit_selector(mask))))

    @staticmethod
    def _export_query(req):
        """(expires_in or None, accessControl) of an export's query."""
        expires = req.query.get("expiresIn")
        if expires is None:
            expires_in = None
        elif expires.isdigit() and int(expires) > 0:
            expires_in = int(expires)
        else:
            raise malformed("query 'expiresIn' must be a positive integer")
        access = req.query.get("accessControl", "default")
        if not RE_ACCESS_CONTROL.match(access):
            raise malformed("query 'accessControl' must match %s" % RE_ACCESS_CONTROL.pattern)
        return expires_in, access

    def _export_items(self, req, paged):
        expires_in, _ = self._export_query(req)
        preview = req.query.get("previewExample", "false").lower()
        if preview not in ("true", "false", "1", "0"):
            raise malformed("query 'previewExample' must be a boolean")
        ds, indices = self._tag_indices(req)
        if paged:
            indices = page_slice(indices, req.query)
        if preview in ("true", "1"):
            indices = indices[:1]
        with self.store.lock:
            rows = self.store.sample_rows(ds, indices) if indices else []
        return ds, rows, expires_in

    def _labelstudio(self, req, paged):
        ds, rows, expires_in = self._export_items(req, paged)
        return json_response(200, [
            {"id": idx, "data": {
                "image": self.redirect_url(req.host, ds["id"], smp["id"], expires_in),
                "lightlyFileName": smp["fileName"], "lightlyMetaInfo": smp}}
            for idx, smp in rows])

    def _labelbox(self, req, paged):
        ds, rows, expires_in = self._export_items(req, paged)
        return json_response(200, [
            {"externalId": smp["fileName"],
             "imageUrl": self.redirect_url(req.host, ds["id"], smp["id"], expires_in)}
            for _, smp in rows])

    def _basic_page(self, req):
        """(dataset, [(index, name, id)]) of a basic export page, in index order."""
        ds, mask = self.store.tag_mask(req.params["datasetId"], req.params["tagId"])
        names, ids, _ = self.store.mapping_lists(ds["id"])
        indices = page_slice(set_bits(mask), req.query)
        return ds, [(i, names[i], ids[i]) for i in indices]

    def h_export_basic_filenames(self, req):
        fmt = req.query.get("fileNameFormat", "NAME")
        if fmt not in FILE_NAME_FORMATS:
            raise malformed("query 'fileNameFormat' must be one of %s"
                            % ", ".join(FILE_NAME_FORMATS))
        expires_in, _ = self._export_query(req)
        ds, rows = self._basic_page(req)
        if fmt == "NAME":
            lines = [name for _, name, _ in rows]
        elif fmt == "REDIRECTED_READ_URL":
            lines = [self.redirect_url(req.host, ds["id"], sid, expires_in)
                     for _, _, sid in rows]
        else:
            prefix = "%s://%s/%s/" % ("gs" if self.storage == "gcs" else "s3",
                                      DATASOURCE_BUCKET, ds["id"])
            lines = [prefix + name for _, name, _ in rows]
        return Response(200, "\n".join(lines).encode("utf-8"),
                        content_type="text/plain; charset=utf-8")

    def h_export_basic_read_urls(self, req):
        self._export_query(req)
        ds, rows = self._basic_page(req)
        return json_response(200, [
            {"fileName": name, "readUrl": self.blob_url(req.host, ds["id"], sid, "full")}
            for _, name, sid in rows])

    def h_info(self, req):
        return json_response(200, {
            "storage": self.storage, "storageBase": self.storage_base,
            "urlTtl": self.url_ttl, "blobSizes": self.store.content.mode,
            "sizeMeta": self.store.size_meta, "pagedExports": self.paged_exports})

    def h_stats_storage(self, req):
        return json_response(200, self.stats.storage_snapshot())

    def h_export_labelstudio_old(self, req):
        return self._labelstudio(req, False)

    def h_export_labelstudio_new(self, req):
        return self._labelstudio(req, True)

    def h_export_labelbox_old(self, req):
        return self._labelbox(req, False)

    def h_export_labelbox_new(self, req):
        return self._labelbox(req, True)

    def h_health(self, req):
        return json_response(200, {"ok": True})

    def h_stats(self, req):
        return json_response(200, self.stats.snapshot())

    def h_stats_reset(self, req):
        self.stats.reset()
        return json_response(200, self.stats.snapshot())

    def h_faults_list(self, req):
        return json_response(200, self.faults.list())

    def h_faults_add(self, req):
        return json_response(201, self.faults.add(req.json()))

    def h_faults_clear(self, req):
        self.faults.clear()
        return Response(204)


# ------------------------------------------------------------ HTTP server

class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive front end: body framing, faults, one write per answer."""

    protocol_version = "HTTP/1.1"
    server_version = "lightly-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = KEEPALIVE_IDLE_S

    def log_message(self, fmt, *args):
        if self.server.emulator.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch()

    def send_error(self, code, message=None, explain=None):
        """Framing errors found by http.server get the Lightly error shape too."""
        self.close_connection = True
        code_name = "MALFORMED_REQUEST" if code == 400 else "HTTP_%d" % code
        self.send(error_response(code, code_name, message or "bad request"))

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise ApiError(413, "PAYLOAD_TOO_LARGE", "request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.isdigit():
            raise malformed("bad Content-Length")
        if int(length) > MAX_BODY_BYTES:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", "request body too large")
        return self.rfile.read(int(length))

    def dispatch(self):
        emu = self.server.emulator
        split = urlsplit(self.path)
        path = split.path
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        internal = path == "/_emulator" or path.startswith("/_emulator/")
        try:
            body = self.read_body()
        except ApiError as err:
            self.close_connection = True
            self.send(error_response(err.status, err.code, err.message))
            return
        except (ValueError, OSError):
            self.close_connection = True
            self.send(error_response(400, "MALFORMED_REQUEST", "bad request framing"))
            return
        found = emu.router.match(self.command, path)
        storage_only = getattr(self.server, "role", "api") == "storage"
        if storage_only and found is not None and found[0] != BLOB_ROUTE:
            found = None
            internal = False
        template = found[0] if found else "<unknown>"
        blob = template == BLOB_ROUTE
        fault = None
        key = None
        if not internal:
            key = "%s %s" % (self.command, template)
            emu.stats.count(key)
            emu.stats.enter(key, self.client_address)
            fault = emu.faults.take(key, found[3] if found else None)
        try:
            self.serve_counted(emu, found, path, query, body, fault, blob, storage_only)
        finally:
            if key is not None:
                emu.stats.leave(key)

    def serve_counted(self, emu, found, path, query, body, fault, blob, storage_only):
        if blob or storage_only:
            token = emu.token
            emu.stats.count_blob(
                self.command, token in unquote(self.path)
                or any(token in v for v in self.headers.values()),
                "Authorization" in self.headers, "Range" in self.headers)
        if fault and fault.get("delay_ms"):
            time.sleep(fault["delay_ms"] / 1000.0)
        if fault and fault.get("drop"):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        resp = self.injected(emu, fault, blob or storage_only) if fault else None
        if resp is None:
            if storage_only and found is None:
                resp = emu.storage_error(404, "NoSuchKey", "The specified key does not exist.")
            else:
                resp = self.real_response(emu, found, path, query, body)
        if fault and fault.get("answer_delay_ms"):
            # answered now, delivered late: what a slow way back looks like
            time.sleep(fault["answer_delay_ms"] / 1000.0)
        self.send(resp, fault=fault, blob=blob or storage_only)

    @staticmethod
    def injected(emu, fault, storage):
        status = fault.get("status")
        if status is None and "retry_after_s" in fault:
            status = 429
        if "body" in fault:
            resp = Response(status or 200, fault["body"].encode("utf-8"))
        elif status is not None and storage:
            code = {500: "InternalError", 503: "SlowDown"}.get(status, "InjectedFault")
            resp = emu.storage_error(status, code, "fault injected by the emulator")
        elif status is not None:
            resp = error_response(status, "INJECTED_FAULT", "fault injected by the emulator")
        else:
            return None
        if "retry_after_s" in fault:
            resp.headers.append(("Retry-After", str(fault["retry_after_s"])))
        return resp

    def real_response(self, emu, found, path, query, body):
        if found is None:
            return error_response(404, "NOT_FOUND", "no route %s %s" % (self.command, path))
        template, handler, auth, params = found
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        req = Request(self.command, path, query, self.headers, body, params, host)
        try:
            return emu.handle(req, handler, auth)
        except ApiError as err:
            return error_response(err.status, err.code, err.message)
        except Exception:  # the emulator's own bug: answer 500 and show it
            traceback.print_exc(file=sys.stderr)
            return error_response(500, "INTERNAL_ERROR", "emulator error")

    def send(self, resp, fault=None, blob=False):
        """One answer; a fault may cut the body short (truncate, truncate_after_bytes:
        FIN after that much; reset_after_bytes: RST) or pace it (rate_bps)."""
        fault = fault or {}
        reason = self.responses.get(resp.status, ("Status",))[0]
        body = resp.body if self.command != "HEAD" else b""
        head = ["HTTP/1.1 %d %s" % (resp.status, reason),
                "Server: %s" % self.server_version,
                "Date: %s" % self.date_time_string(),
                "Content-Type: %s" % resp.content_type,
                "Content-Length: %d" % len(resp.body)]
        head.extend("%s: %s" % h for h in resp.headers)
        reset = "reset_after_bytes" in fault
        if fault.get("truncate"):
            body = body[:len(body) // 2]
        for key in ("truncate_after_bytes", "reset_after_bytes"):
            if key in fault:
                body = body[:fault[key]]
        if len(body) < len(resp.body) and self.command != "HEAD":
            self.close_connection = True
        head.append("Connection: %s" % ("close" if self.close_connection else "keep-alive"))
        self.log_request(resp.status, len(resp.body))
        sent = 0
        rate = fault.get("rate_bps")
        if blob:
            # counted before the answer leaves: a client that reads the
            # stats right after it must find it there (a paced body counts
            # its bytes as they go)
            self.server.emulator.stats.blob_sent(resp.status, 0 if rate else len(body))
        try:
            if rate:
                self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
                self.wfile.flush()
                step = max(1, rate // 20)
                for start in range(0, len(body), step):
                    part = body[start:start + step]
                    self.wfile.write(part)
                    self.wfile.flush()
                    sent += len(part)
                    time.sleep(len(part) / rate)
            else:
                self.send_all(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"), body)
                sent = len(body)
            if reset:
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.rfile.close()      # drop the makefile reference: close() is real
                self.connection.close()
        except OSError:
            self.close_connection = True
        if blob and rate:
            self.server.emulator.stats.blob_bytes(sent)


    def send_all(self, head, body):
        """head and body in one gathered write, so a big body is not copied
        onto the end of its head first."""
        self.wfile.flush()
        parts = [memoryview(head), memoryview(body)]
        while parts:
            n = self.connection.sendmsg(parts)
            while parts and n >= len(parts[0]):
                n -= len(parts[0])
                parts.pop(0)
            if parts:
                parts[0] = parts[0][n:]


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        if self.emulator.verbose:
            super().handle_error(request, client_address)


# ------------------------------------------------------------------ seeding

def seed_dataset(store, spec):
    name, sep, count = spec.rpartition(":")
    if not sep or not count.isdigit() or not RE_DATASET_NAME.match(name):
        raise SystemExit("--dataset wants NAME:N with a valid dataset name, got %r" % spec)
    if store.find_dataset_by_name(name) is not None:
        return
    n = int(count)
    ds_id = store.create_dataset(name)
    store.add_samples(ds_id, ["sample_%07d.jpg" % i for i in range(n)], unique=False)
    store.create_initial_tag(ds_id, {"imgType": "full", "creator": "USER_PIP"})


def _bits(indices):
    mask = 0
    for i in indices:
        mask |= 1 << i
    return hex(mask)


DEMO_LARGE = {("medical-xray", "patient_003/lateral.jpg"): 9_876_543}


def demo_meta(dataset_name, file_name):
    """Demo samples carry metaData as the pip uploader sends it: realistic, varied sizes
    (whatever --blob-sizes says), one X-ray over 8 MiB."""
    size = DEMO_LARGE.get((dataset_name, file_name)) or content.varied_size(file_name)
    return {"metaData": {"sizeInBytes": size,
                         "shape": content.shape(content.kind_of(file_name), size)}}


def seed_demo(store):
    """A small realistic account; created once per state file."""
    if store.meta_flag("demo_seeded"):
        return

    def dataset(name, names, tags):
        ds_id = store.create_dataset(name)
        store.add_samples(ds_id, names, [demo_meta(name, n) for n in names])
        ids = {"initial-tag": store.create_initial_tag(
            ds_id, {"imgType": "full", "creator": "USER_PIP"})}
        for tag_name, parent, indices, creator in tags:
            ids[tag_name] = store.create_tag(ds_id, {
                "name": tag_name, "prevTagId": ids[parent], "bitMaskData": _bits(indices),
                "totSize": len(names), "creator": creator})
        return ds_id, ids

    street = ["cam%d/2024-05-%02d/frame_%04d.jpg" % (cam, day, f)
              for cam in (0, 1) for day in (1, 2) for f in range(1, 11)]
    night = [i for i in range(len(street)) if (i % 10) >= 6]
    dataset("street-scenes", street, [
        ("night", "initial-tag", night, "USER_WEBAPP"),
        ("night-blurry", "night", night[::3], "USER_WEBAPP"),
        ("to-label", "initial-tag", list(range(0, len(street), 4)), "SAMPLER_CORESET"),
        ("day-highway", "initial-tag", [i for i in range(len(street)) if i % 10 < 3],
         "USER_PIP"),
    ])

    pallets = ["site-%s/aisle-%02d/pallet_%03d.png" % (site, aisle, p)
               for site in ("berlin", "munich") for aisle in (1, 2, 3) for p in range(1, 6)]
    damaged = [1, 4, 9, 13, 17, 22, 26]
    pallet_id, pallet_tags = dataset("warehouse-pallets", pallets, [
        ("damaged", "initial-tag", damaged, "USER_WEBAPP"),
        ("damaged-review", "damaged", damaged[:3], "USER_WEBAPP"),
        ("random-20pct", "initial-tag", list(range(0, len(pallets), 5)), "SAMPLER_RANDOM"),
    ])

    xray = ["patient_%03d/%s.jpg" % (p, view) for p in range(1, 7) for view in ("ap", "lateral")]
    xray_id, xray_tags = dataset("medical-xray", xray, [
        ("ap-views", "initial-tag", list(range(0, len(xray), 2)), "USER_PIP"),
        ("to-label", "ap-views", [0, 4, 8], "SAMPLER_ACTIVE_LEARNING"),
    ])
    store.add_samples(xray_id, ["patient_007/ap.jpg", "patient_007/lateral.jpg"])
    store.upsize(xray_id, {"upsizeTagName": "new-2024-06", "upsizeTagCreator": "USER_PIP"})

    archive = ["archive/2023-11-%02d/frame_%04d.jpg" % (day, f)
               for day in (20, 21) for f in range(1, 6)]
    dataset("street-scenes", archive, [
        ("keep", "initial-tag", [0, 2, 4, 6, 8], "USER_WEBAPP"),
    ])
    store.arithmetics(pallet_id, {
        "tagId1": pallet_tags["damaged"], "tagId2": pallet_tags["random-20pct"],
        "operation": "UNION", "newTagName": "damaged-or-sampled", "creator": "USER_PIP"}, True)
    store.set_meta_flag("demo_seeded")


# --------------------------------------------------------------------- main

def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="lightly_emulator.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Local emulator of the Lightly REST API (datasets, samples, mappings, "
                    "the twelve tag endpoints, exports) for the lightlyfs demo and tests.",
        epilog="""\
output: the first line on stdout is 'port=NNNNN' once the server accepts
requests; it then serves until SIGTERM or SIGINT and exits 0 with its state
committed.

auth: every /v1 call needs the API token, as query parameter token=TOKEN or
header 'Authorization: Bearer TOKEN' (default TOKEN: %(token)s).

test support (no token; not part of the Lightly API; not counted in stats):
  GET    /_emulator/health                 {"ok": true}
  GET    /_emulator/stats                  {"total": N, "routes": {"GET /v1/datasets/{datasetId}/tags": N, ...},
                                            "maxInFlight": {route: most served at once},
                                            "connections": {route: client connections seen}}
  POST   /_emulator/stats/reset            zero the counters
  POST   /_emulator/faults                 {"match": "GET /v1/datasets/{datasetId}/tags" | "*",
                                            "status": 503, "count": 3, "delay_ms": 0,
                                            "answer_delay_ms": 0 (answered at once, sent late),
                                            "retry_after_s": 10, "drop": false,
                                            "truncate": false, "body": "..."}  -> 201 fault
                                           blob faults (storage route "GET /blobs/{datasetId}/{sampleId}"):
                                            "rate_bps": N (slow body), "reset_after_bytes": N
                                            (RST after N body bytes), "truncate_after_bytes": N
                                            (FIN after N bytes under the full Content-Length),
                                            "sample_id": ID (only that sample); a "status"
                                            there answers an S3/GCS XML error
  GET    /_emulator/faults                 the active faults
  DELETE /_emulator/faults                 remove them all
  GET    /_emulator/stats/storage          {"requests", "bytes" (body bytes sent), "withToken"
                                            (path, query or a header held the Lightly token),
                                            "withAuthorization", "head", "ranges", "byStatus"};
                                            also under "storage" in /_emulator/stats once a
                                            storage request was counted since the last reset
  GET    /_emulator/info                   the storage/content options in effect
  POST   /_emulator/datasets/{id}/samples  {"fileNames": [...]} appends raw names, unchecked

storage (signed URLs from readurl, readurlRedirect, filenamesAndReadUrls; no token):
  GET    /blobs/{datasetId}/{sampleId}?type=&exp=&sig=
         image bytes (image/png, image/jpeg), Range: bytes=a-b | a- | -n -> 206 with
         Content-Range (one range; several or a malformed one -> 200 whole), past the
         end -> 416 with 'Content-Range: bytes */TOTAL'.  HEAD -> 403 (signed for GET).
         Expired (--url-ttl): s3 403 AccessDenied 'Request has expired', gcs 400
         ExpiredToken; bad signature or an unsigned query parameter (e.g. token=)
         403 SignatureDoesNotMatch; an Authorization header 400 InvalidArgument;
         unknown sample 404 NoSuchKey (XML bodies).  Served on the API port, or on
         its own port with --storage-port (printed as a second line storage_port=N).

sample content routes (token needed):
  GET /v1/datasets/{ds}/samples?pageSize&pageOffset     SampleData in index order with
      metaData {sizeInBytes, shape [h, w, c]} (see --size-meta)
  POST /v1/datasets/{ds}/samples                        {fileName, metaData?, ...} -> 201 {id}
  GET /v1/datasets/{ds}/samples/{id}/readurl?type=full|thumbnail|meta   signed URL (JSON string)
  GET /v1/datasets/{ds}/samples/{id}/readurlRedirect?type&publicToken   302 to a fresh URL
  GET /v1/datasets/{ds}/tags/{tag}/export/basic/filenames?fileNameFormat=NAME|
      REDIRECTED_READ_URL|DATASOURCE_FULL&pageSize&pageOffset&expiresIn
      text/plain, one line per sample in index order, lines joined by '\n' (no final
      newline; an empty page is an empty body); DATASOURCE_FULL is
      s3://%(bucket)s/<datasetId>/<fileName> (gs:// with --storage gcs)
  GET /v1/datasets/{ds}/tags/{tag}/export/basic/filenamesAndReadUrls?pageSize&pageOffset
      [{fileName, readUrl}] with direct signed URLs

%(choices)s""" % {"token": DEFAULT_TOKEN, "choices": EMULATOR_CHOICES,
                   "bucket": DATASOURCE_BUCKET})
    parser.add_argument("--port", type=int, required=True,
                        help="TCP port; 0 picks a free one (printed as port=N)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--token", default=DEFAULT_TOKEN,
                        help="API token the server accepts (default %s)" % DEFAULT_TOKEN)
    parser.add_argument("--state", metavar="FILE.sqlite",
                        help="keep state in this SQLite file across restarts "
                             "(default: a temp file deleted at exit)")
    parser.add_argument("--dataset", action="append", default=[], metavar="NAME:N",
                        help="create dataset NAME with N samples sample_%%07d.jpg and an "
                             "initial tag 'initial-tag' holding them all, unless a dataset "
                             "named NAME exists; repeatable")
    parser.add_argument("--demo", action="store_true",
                        help="create (once) a small demo account: street-scenes (twice), "
                             "warehouse-pallets, medical-xray, with tag trees")
    parser.add_argument("--verbose", action="store_true",
                        help="log every request to stderr")
    parser.add_argument("--blob-sizes", choices=BLOB_SIZE_MODES, default="fixed",
                        help="image bodies of samples created without metaData.sizeInBytes: "
                             "'fixed' (default; %d-byte 16x16 PNG, %d-byte JPEG for .jpg/.jpeg) "
                             "or 'varied' (deterministic per file name, %d KiB .. %d MiB); "
                             "--demo samples always carry varied sizes, one over 8 MiB"
                             % (BLOB_SIZE, FIXED_JPEG_SIZE, content.VARIED_MIN // 1024,
                                content.VARIED_MAX // (1024 * 1024)))
    parser.add_argument("--size-meta", choices=SIZE_META_MODES, default="exact",
                        help="metaData.sizeInBytes in sample listings: 'exact' (default, the "
                             "body length), 'absent' (left out), 'smaller'/'larger' (off by a "
                             "quarter of the size)")
    parser.add_argument("--url-ttl", type=int, default=DEFAULT_EXPIRES_IN_S, metavar="SECONDS",
                        help="lifetime of signed storage URLs (default %d = 7 days)"
                             % DEFAULT_EXPIRES_IN_S)
    parser.add_argument("--storage", choices=("s3", "gcs"), default="s3",
                        help="how storage answers errors, expiry in particular: 's3' (403 "
                             "AccessDenied 'Request has expired', default) or 'gcs' (400 "
                             "ExpiredToken)")
    parser.add_argument("--storage-port", type=int, metavar="PORT",
                        help="serve storage (signed URLs) on a second port, another origin "
                             "than the API; 0 picks a free one, printed as storage_port=N on "
                             "the second line (default: the API port)")
    parser.add_argument("--storage-host", metavar="NAME",
                        help="host name signed URLs use with --storage-port (default: the "
                             "--host address, 127.0.0.1 for a wildcard one)")
    parser.add_argument("--no-paged-exports", action="store_true",
                        help="an older server: export/LabelStudio/tasks and "
                             "export/LabelBox/datarows answer 404 (the old LabelStudioTasks "
                             "and LabelBoxDataRows paths still work)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    temp_path = None
    if args.state:
        state_path = args.state
    else:
        fd, temp_path = tempfile.mkstemp(prefix="lightly-emulator-", suffix=".sqlite")
        os.close(fd)
        state_path = temp_path
    store = None
    try:
        if args.url_ttl < 1:
            raise SystemExit("--url-ttl wants a number of seconds >= 1")
        store = Store(state_path, Content(args.blob_sizes), args.size_meta)
        emulator = Emulator(store, args.token, verbose=args.verbose, url_ttl=args.url_ttl,
                            storage=args.storage, paged_exports=not args.no_paged_exports)
        server = Server((args.host, args.port), Handler)
        server.emulator = emulator
        storage_server = None
        if args.storage_port is not None:
            storage_server = Server((args.host, args.storage_port), Handler)
            storage_server.emulator = emulator
            storage_server.role = "storage"
            host = args.storage_host or (
                "127.0.0.1" if args.host in ("", "0.0.0.0", "::") else args.host)
            if ":" in host and not host.startswith("["):
                host = "[%s]" % host
            emulator.storage_base = "http://%s:%d" % (host, storage_server.server_address[1])
        for spec in args.dataset:
            started = time.monotonic()
            seed_dataset(store, spec)
            if args.verbose:
                sys.stderr.write("seeded %s in %.2f s\n" % (spec, time.monotonic() - started))
        if args.demo:
            seed_demo(store)

        def stop(signum, frame):
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if storage_server is not None:
            threading.Thread(target=storage_server.serve_forever, kwargs={"poll_interval": 0.1},
                             daemon=True).start()
        sys.stdout.write("port=%d\n" % server.server_address[1])
        if storage_server is not None:
            sys.stdout.write("storage_port=%d\n" % storage_server.server_address[1])
        sys.stdout.flush()
        server.serve_forever(poll_interval=0.1)
        server.server_close()
        if storage_server is not None:
            storage_server.shutdown()
            storage_server.server_close()
    finally:
        if store is not None:
            store.close()
        if temp_path:
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.unlink(temp_path + suffix)
                except FileNotFoundError:
                    pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
