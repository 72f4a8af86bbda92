"""All account state: SQLite schema and persistence, datasets and samples.

Store holds datasets and tags in memory and each dataset's names and ids in a
lazily loaded SampleIndex; its tag methods come from store_tags.TagStore.
"""

import json
import sqlite3
import threading

from . import content
from .bodies import Content, explicit_size
from .common import IDS, SAMPLE_RESERVED_KEYS, SCHEMA_VERSION, ApiError, now_ms, random_hex, \
    to_json_bytes
from .fields import page_params
from .store_tags import TagStore


class Store(TagStore):
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
