"""Each of the 17 tag methods of the last generated client (lightly 1.5.26,
lightly/openapi_generated/swagger_client/api/tags_api.py) against the
emulator: the route answers what the client's model of that answer accepts.

The models' fields are copied here from lightly/openapi_generated/
swagger_client/models/*.py at tag v1.5.26 (alias, type, required; every one
has extra = "forbid", so an unknown key is a failure too), not imported: the
tests need nothing but the standard library.  Loaded by test_emulator.py's
main, with its own emulator.
"""

import io
import json
import unittest
import urllib.parse
import zipfile

import test_emulator as h

STR, INT, BOOL, ANY_DICT = "str", "int", "bool", "dict"
REQ, OPT, NULLABLE = "required", "optional", "required-nullable"


def list_of(kind):
    return ("list", kind)


# models/*.py of v1.5.26: alias -> (type, required)
CREATE_ENTITY_RESPONSE = {"id": (STR, REQ)}
TAG_BIT_MASK_RESPONSE = {"bitMaskData": (STR, REQ)}
TAG_CHANGE_DATA = {k: (ANY_DICT, OPT) for k in (
    "initial", "rename", "upsize", "arithmetics", "metadata", "samples", "scatterplot",
    "sampler")}
TAG_CHANGE_ENTRY = {"userId": (STR, REQ), "creator": (STR, REQ), "ts": (INT, REQ),
                    "changes": (TAG_CHANGE_DATA, REQ)}
TAG_DATA = {"id": (STR, REQ), "datasetId": (STR, REQ), "prevTagId": (STR, NULLABLE),
            "queryTagId": (STR, OPT), "preselectedTagId": (STR, OPT), "name": (STR, REQ),
            "bitMaskData": (STR, REQ), "totSize": (INT, REQ), "createdAt": (INT, REQ),
            "lastModifiedAt": (INT, OPT), "changes": (list_of(TAG_CHANGE_ENTRY), OPT),
            "runId": (STR, OPT)}
SAMPLE_META_DATA = {k: ("any", OPT) for k in (
    "custom", "dynamic", "sharpness", "luminance", "sizeInBytes", "snr", "uniformRowRatio",
    "mean", "shape", "std", "sumOfSquares", "sumOfValues")}
SAMPLE_DATA = {"id": (STR, REQ), "type": (STR, REQ), "datasetId": (STR, OPT),
               "fileName": (STR, REQ), "thumbName": (STR, OPT), "exif": (ANY_DICT, OPT),
               "index": (INT, OPT), "createdAt": (INT, OPT), "lastModifiedAt": (INT, OPT),
               "metaData": (SAMPLE_META_DATA, OPT), "customMetaData": (ANY_DICT, OPT),
               "videoFrameData": (ANY_DICT, OPT), "cropData": (ANY_DICT, OPT)}
FILENAME_AND_READ_URL = {"fileName": (STR, REQ), "readUrl": (STR, REQ)}
LABEL_BOX_DATA_ROW = {"externalId": (STR, REQ), "imageUrl": (STR, REQ)}
LABEL_BOX_V4_DATA_ROW = {"row_data": (STR, REQ), "global_key": (STR, OPT),
                         "media_type": (STR, OPT)}
LABEL_STUDIO_TASK_DATA = {"image": (STR, REQ), "lightlyFileName": (STR, OPT),
                          "lightlyMetaInfo": (SAMPLE_DATA, OPT)}
LABEL_STUDIO_TASK = {"id": (INT, REQ), "data": (LABEL_STUDIO_TASK_DATA, REQ)}
SAMA_TASK_DATA = {"id": (INT, REQ), "url": (STR, REQ), "image": (STR, OPT),
                  "lightlyFileName": (STR, OPT), "lightlyMetaInfo": (STR, OPT)}
SAMA_TASK = {"priority": (INT, OPT), "reserve_for": (INT, OPT), "data": (SAMA_TASK_DATA, REQ)}
SAMPLE_TYPES = ("CROP", "IMAGE", "VIDEO_FRAME")
TAG_CREATORS = ("UNKNOWN", "USER_WEBAPP", "USER_PIP", "USER_PIP_LIGHTLY_MAGIC",
                "USER_WORKER", "SAMPLER_ACTIVE_LEARNING", "SAMPLER_CORAL",
                "SAMPLER_CORESET", "SAMPLER_RANDOM")


def problems(value, kind, where="$"):
    """What the model of kind finds wrong with value (pydantic strict types:
    an int is no str, a bool no int)."""
    if kind == "any":
        return []
    if kind == STR:
        return [] if isinstance(value, str) else ["%s: not a string" % where]
    if kind == INT:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else ["%s: not an integer" % where]
    if kind == ANY_DICT:
        return [] if isinstance(value, dict) else ["%s: not an object" % where]
    if isinstance(kind, tuple):
        if not isinstance(value, list):
            return ["%s: not an array" % where]
        return [p for i, v in enumerate(value) for p in problems(v, kind[1], "%s[%d]" % (where, i))]
    if not isinstance(value, dict):
        return ["%s: not an object" % where]
    out = ["%s: unknown field %s" % (where, k) for k in value if k not in kind]
    for key, (sub, need) in kind.items():
        if key not in value:
            if need != OPT:
                out.append("%s: missing required %s" % (where, key))
        elif value[key] is None:
            if need == REQ:
                out.append("%s.%s: null" % (where, key))
        else:
            out += problems(value[key], sub, "%s.%s" % (where, key))
    return out


SHARED = None


def setUpModule():
    global SHARED
    SHARED = h.EmulatorProcess("--dataset", "models:0")


def tearDownModule():
    if SHARED is not None:
        SHARED.stop()


class TestClientModels(unittest.TestCase):
    """One test per method; each checks its answer against the model."""

    def setUp(self):
        self.c = h.Client(SHARED.port)
        names = ["cam/%d.jpg" % i for i in range(5)] + ["top.png"]
        self.ds, self.initial = self.c.new_dataset(names=names, name="models-%s" % self.id()[-12:])
        self.tag = self.c.new_tag(self.ds, "picked", self.initial, [1, 2, 5], 6)
        self.base = "/v1/datasets/%s/tags/%s/" % (self.ds, self.tag)

    def assertModel(self, value, kind):
        self.assertEqual(problems(value, kind), [], json.dumps(value)[:2000])

    def get_json(self, path, query=None, expect=200):
        return self.c.ok("GET", path, expect, query=query)

    def test_create_initial_tag_by_dataset_id(self):
        ds, _ = self.c.new_dataset(3, name="models-initial", initial=False)
        got = self.c.ok("POST", "/v1/datasets/%s/tags/initial" % ds, 201,
                        body={"imgType": "full"})
        self.assertModel(got, CREATE_ENTITY_RESPONSE)

    def test_create_tag_by_dataset_id(self):
        got = self.c.ok("POST", "/v1/datasets/%s/tags" % self.ds, 201, body={
            "name": "made", "prevTagId": self.initial, "bitMaskData": "0x3", "totSize": 6})
        self.assertModel(got, CREATE_ENTITY_RESPONSE)

    def test_delete_tag_by_tag_id(self):
        reply = self.c.delete(self.base.rstrip("/"))
        # the model is None: the client takes any 2xx and reads no body
        self.assertTrue(200 <= reply.status < 300, reply)
        self.assertEqual(self.c.get(self.base.rstrip("/")).status, 404)

    def test_get_tag_by_tag_id_and_get_tags_by_dataset_id(self):
        self.assertModel(self.get_json(self.base.rstrip("/")), TAG_DATA)
        tags = self.get_json("/v1/datasets/%s/tags" % self.ds)
        self.assertModel(tags, list_of(TAG_DATA))
        for tag in tags:
            for change in tag.get("changes", []):
                self.assertIn(change["creator"], TAG_CREATORS)

    def test_update_tag_by_tag_id(self):
        reply = self.c.put(self.base.rstrip("/"), {"name": "renamed", "updateType": "NAME"})
        self.assertTrue(200 <= reply.status < 300, reply)   # None, as delete
        self.assertEqual(self.get_json(self.base.rstrip("/"))["name"], "renamed")

    def test_get_filenames_by_tag_id(self):
        self.assertModel(self.get_json(self.base + "filenames"), list_of(STR))

    def test_perform_tag_arithmetics_and_bitmask(self):
        body = {"tagId1": self.tag, "tagId2": self.initial, "operation": "INTERSECTION"}
        arith = "/v1/datasets/%s/tags/arithmetics" % self.ds
        self.assertModel(self.c.ok("POST", arith, 200, body=body), TAG_BIT_MASK_RESPONSE)
        made = self.c.ok("POST", arith, 200, body=dict(body, newTagName="both"))
        self.assertModel(made, CREATE_ENTITY_RESPONSE)   # the oneOf's other side
        got = self.c.ok("POST", arith + "/bitmask", 200, body=body)
        self.assertModel(got, TAG_BIT_MASK_RESPONSE)

    def test_upsize_tags_by_dataset_id(self):
        self.c.ok("POST", "/_emulator/datasets/%s/samples" % self.ds, 201,
                  body={"fileNames": ["late.png"]}, token=None)
        got = self.c.ok("POST", "/v1/datasets/%s/tags/upsize" % self.ds, 201,
                        body={"upsizeTagName": "late", "upsizeTagCreator": "USER_PIP"})
        self.assertModel(got, CREATE_ENTITY_RESPONSE)

    def test_export_tag_to_label_studio_tasks(self):
        for path in ("export/LabelStudio/tasks", "export/LabelStudioTasks"):
            tasks = self.get_json(self.base + path, {"expiresIn": 60})
            self.assertModel(tasks, list_of(LABEL_STUDIO_TASK))
            self.assertEqual([t["id"] for t in tasks], [1, 2, 5])
            for t in tasks:
                self.assertIn(t["data"]["lightlyMetaInfo"]["type"], SAMPLE_TYPES)

    def test_export_tag_to_label_box_data_rows(self):
        for path in ("export/LabelBox/datarows", "export/LabelBoxDataRows"):
            rows = self.get_json(self.base + path)
            self.assertModel(rows, list_of(LABEL_BOX_DATA_ROW))
            self.assertEqual(len(rows), 3)

    def test_export_tag_to_label_box_v4_data_rows(self):
        rows = self.get_json(self.base + "export/LabelBoxV4/datarows",
                             {"expiresIn": 60, "accessControl": "default"})
        self.assertModel(rows, list_of(LABEL_BOX_V4_DATA_ROW))
        self.assertEqual([r["global_key"] for r in rows], ["cam/1.jpg", "cam/2.jpg", "top.png"])
        self.assertRedirects(rows[0]["row_data"])
        page = self.get_json(self.base + "export/LabelBoxV4/datarows",
                             {"pageSize": 2, "pageOffset": 1})
        self.assertEqual([r["global_key"] for r in page], ["cam/2.jpg", "top.png"])
        self.assertEqual(len(self.get_json(self.base + "export/LabelBoxV4/datarows",
                                           {"previewExample": "true"})), 1)

    def test_export_tag_to_sama_tasks(self):
        tasks = self.get_json(self.base + "export/Sama/tasks", {"expiresIn": 60})
        self.assertModel(tasks, list_of(SAMA_TASK))
        self.assertEqual([t["data"]["id"] for t in tasks], [1, 2, 5])
        meta = json.loads(tasks[2]["data"]["lightlyMetaInfo"])
        self.assertModel(meta, SAMPLE_DATA)
        self.assertEqual(meta["fileName"], tasks[2]["data"]["lightlyFileName"])
        self.assertRedirects(tasks[0]["data"]["url"])
        page = self.get_json(self.base + "export/Sama/tasks", {"pageSize": 1, "pageOffset": 2})
        self.assertEqual([t["data"]["id"] for t in page], [5])

    def test_export_tag_to_basic_filenames(self):
        path = self.base + "export/basic/filenames"
        for fmt in ("NAME", "DATASOURCE_FULL", "REDIRECTED_READ_URL"):
            reply = self.c.get(path, query={"fileNameFormat": fmt, "format": "PLAIN"})
            self.assertEqual(reply.status, 200, reply)
            lines = reply.body.decode("utf-8").split("\n")   # the model: str
            self.assertEqual(len(lines), 3)
            as_json = self.get_json(path, {"fileNameFormat": fmt, "format": "JSON"})
            self.assertModel(as_json, list_of(STR))
            if fmt != "REDIRECTED_READ_URL":   # those carry fresh tokens
                self.assertEqual(as_json, lines)
        reply = self.c.get(path, query={"previewExample": "true", "includeMetaData": "true"})
        self.assertEqual(reply.body, b"cam/1.jpg")

    def test_export_tag_to_basic_filenames_and_read_urls(self):
        rows = self.get_json(self.base + "export/basic/filenamesAndReadUrls",
                             {"format": "JSON", "pageSize": 2, "pageOffset": 1})
        self.assertModel(rows, list_of(FILENAME_AND_READ_URL))
        self.assertEqual([r["fileName"] for r in rows], ["cam/2.jpg", "top.png"])

    def test_download_zip_of_samples_by_tag_id(self):
        reply = self.c.get(self.base + "export/zip")
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(reply.headers["Content-Type"], "application/zip")
        with zipfile.ZipFile(io.BytesIO(reply.body)) as zf:   # the model: bytearray
            self.assertIsNone(zf.testzip())
            self.assertEqual(zf.namelist(), ["cam/1.jpg", "cam/2.jpg", "top.png"])
            ids = self.get_json("/v1/datasets/%s/mappings" % self.ds, {"field": "_id"})
            body = h.fetch(h.read_url(self.c, self.ds, ids[5]))[2]
            self.assertEqual(zf.read("top.png"), body)

    def test_every_export_refuses_bad_queries_and_unknown_tags(self):
        bad_tag = "/v1/datasets/%s/tags/%s/" % (self.ds, "9" * 24)
        for path in ("export/LabelBoxV4/datarows", "export/Sama/tasks", "export/zip",
                     "export/basic/filenames", "export/basic/filenamesAndReadUrls"):
            self.assertError(self.c.get(bad_tag + path), 404, "TAG_UNKNOWN")
        for path in ("export/LabelBoxV4/datarows", "export/Sama/tasks"):
            for bad in ({"expiresIn": "0"}, {"accessControl": ""}, {"pageSize": 0},
                        {"format": "XML"}, {"fileNameFormat": "URL"},
                        {"previewExample": "maybe"}):
                self.assertError(self.c.get(self.base + path, query=bad), 400,
                                 "MALFORMED_REQUEST")
        self.assertError(self.c.get(self.base + "export/basic/filenames",
                                    query={"format": "XML"}), 400, "MALFORMED_REQUEST")

    def test_expires_in_bounds_the_new_exports_links(self):
        v4 = self.get_json(self.base + "export/LabelBoxV4/datarows")
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(v4[0]["row_data"]).query))
        self.assertTrue(query["publicToken"].startswith("0."), query)   # no expiry
        sama = self.get_json(self.base + "export/Sama/tasks", {"expiresIn": 30})
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(sama[0]["data"]["url"]).query))
        self.assertFalse(query["publicToken"].startswith("0."), query)

    def assertRedirects(self, url):
        reply = h.Client(SHARED.port).get(url[len(self.c.base):], token=None)
        self.assertEqual(reply.status, 302, reply)

    def assertError(self, reply, status, code):
        self.assertEqual(reply.status, status, reply)
        self.assertEqual(reply.json()["code"], code, reply)


if __name__ == "__main__":
    unittest.main(verbosity=2)
