"""Constants, the Lightly error shape and small helpers every module shares.

Bottom of the package: it imports nothing from it.  Owns the API limits and
enumerations, ApiError/malformed, timestamps, random hex, compact JSON and the
MongoObjectID-like id generator (IDS).
"""

import json
import os
import re
import threading
import time

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
