"""Tag state: the TagStore mixin of Store (tag JSON, the tag rules, writes).

Creating, renaming, re-masking and deleting tags, arithmetics and upsize,
in memory and in the SQLite tags table; runs on Store's lock and database.
"""

import json

from .common import (INITIAL_TAG_NAME, OPERATIONS, TAG_CREATORS, IMAGE_TYPES, IDS, ApiError,
                     malformed, now_ms)
from .fields import (field_enum, field_id, field_int, field_object, field_tag_name,
                     need_object, parse_bitmask)


class TagStore:
    """Store's tag methods; expects self.lock, self.db, self.tags, self.user_id
    and self.dataset() of Store."""

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
