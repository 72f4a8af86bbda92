"""Fault injection behind /_emulator/faults: validating fault specs and
matching them to requests, first added first, counts used up one by one.
"""

import json
import re
import threading

from .common import malformed, random_hex
from .fields import field_id, field_int, field_str, need_object


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
