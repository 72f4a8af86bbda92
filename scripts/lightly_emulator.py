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

Sample content (lightly_emu/content.py, bodies.py) is computed, never
stored: a sample's size comes from its file name or its metaData, and its
PNG or JPEG body is rendered only when storage serves it (a bounded cache
keeps recent bodies for range reads).  Storage (/blobs/, signed URLs) answers
like S3 or GCS: Range and 416, 403 to HEAD, XML errors, expiry after
--url-ttl; it can listen on a port of its own (--storage-port), another
origin than the API, and counts what it receives, the Lightly token included.
New options: --blob-sizes, --size-meta, --url-ttl, --storage, --storage-port,
--storage-host, --no-paged-exports (see --help).

Decisions the API reference leaves open are collected in the EMULATOR_CHOICES
text (lightly_emu/cli.py, also printed by --help) so they are easy to find and
change.

This file is the command people and scripts run; the code is the package
lightly_emu/ beside it, one module per API area (lightly_emu/cli.py is the
command line, main() included).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lightly_emu.cli import main  # noqa: E402  (the package beside this script)

if __name__ == "__main__":
    sys.exit(main())
