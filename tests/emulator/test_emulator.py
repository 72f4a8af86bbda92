#!/usr/bin/env python3
"""Tests of scripts/lightly_emulator.py, the Lightly API emulator the C tests use as oracle.

They start the emulator as a subprocess on a free port and talk to it over
HTTP only (urllib, and http.client where connection reuse or broken answers
matter), so they check the wire behaviour the C client sees: paths, statuses,
JSON shapes, error bodies, tag rules, the /_emulator/ test API and the
command line.  Standard library only.  Run through run.sh, which ends with
the summary line 'emulator: N passed, N failed'.
"""

import http.client
import json
import socket
import threading
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "..", "..", "scripts", "lightly_emulator.py")
TOKEN = "emulator-token"
START_TIMEOUT_S = 60
RE_ID = re.compile(r"^[a-f0-9]{24}$")
RE_BITMASK = re.compile(r"^0x(0|[1-9a-f][0-9a-f]*)$")


# ------------------------------------------------------------------ harness

class EmulatorProcess:
    """One emulator subprocess; its stderr goes to a file checked for tracebacks."""

    def __init__(self, *args, env=None):
        self.stderr = tempfile.TemporaryFile()
        cmd = [sys.executable, EMULATOR, "--port", "0"] + list(args)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr,
                                     env=env)
        self.port = self._read_port()
        self.startup_s = time.monotonic() - self.started

    def _read_port(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            if not ready:
                self.proc.kill()
                raise RuntimeError("emulator did not print its port in time")
            ch = os.read(self.proc.stdout.fileno(), 1)
            if not ch:
                raise RuntimeError("emulator exited early: %s" % self.stderr_text())
            line += ch
        match = re.fullmatch(rb"port=(\d+)\n", line)
        if not match:
            raise RuntimeError("unexpected first line %r" % line)
        return int(match.group(1))

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Reply(%d, %r)" % (self.status, self.body[:300])


class Client:
    def __init__(self, port, token=TOKEN):
        self.base = "http://127.0.0.1:%d" % port
        self.port = port
        self.token = token

    def request(self, method, path, body=None, query=None, token="default",
                headers=None, raw=None):
        token = self.token if token == "default" else token
        params = dict(query or {})
        if token is not None:
            params["token"] = token
        url = self.base + path
        if params:
            url += ("&" if "?" in path else "?") + urllib.parse.urlencode(params)
        data = raw
        if body is not None:
            data = json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with OPENER.open(req, timeout=60) as resp:
                return Reply(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as err:
            with err:
                return Reply(err.code, err.headers, err.read())

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def ok(self, method, path, expect, **kw):
        reply = self.request(method, path, **kw)
        if reply.status != expect:
            raise AssertionError("%s %s: expected %d, got %r" % (method, path, expect, reply))
        return reply.json() if reply.body else None

    # shortcuts used by many tests
    def new_dataset(self, n=0, name="test-set", initial=True, names=None):
        ds = self.ok("POST", "/v1/datasets", 201, body={"name": name})["id"]
        names = names if names is not None else ["img/%05d.png" % i for i in range(n)]
        if names:
            self.ok("POST", "/_emulator/datasets/%s/samples" % ds, 201,
                    body={"fileNames": names}, token=None)
        tag = None
        if initial:
            tag = self.ok("POST", "/v1/datasets/%s/tags/initial" % ds, 201,
                          body={"imgType": "full"})["id"]
        return ds, tag

    def new_tag(self, ds, name, prev, indices, tot):
        return self.ok("POST", "/v1/datasets/%s/tags" % ds, 201, body={
            "name": name, "prevTagId": prev, "bitMaskData": mask_of(indices),
            "totSize": tot})["id"]

    def tag(self, ds, tag):
        return self.ok("GET", "/v1/datasets/%s/tags/%s" % (ds, tag), 200)

    def tags(self, ds):
        return self.ok("GET", "/v1/datasets/%s/tags" % ds, 200)

    def names(self, ds):
        return self.ok("GET", "/v1/datasets/%s/mappings" % ds, 200, query={"field": "fileName"})

    def stats(self):
        return self.ok("GET", "/_emulator/stats", 200, token=None)


def mask_of(indices):
    value = 0
    for i in indices:
        value |= 1 << i
    return hex(value)


def indices_of(bitmask):
    value = int(bitmask, 16)
    return [i for i in range(value.bit_length()) if value >> i & 1]


SHARED = None


def setUpModule():
    global SHARED
    SHARED = EmulatorProcess("--demo", "--dataset", "small-set:300")


def tearDownModule():
    if SHARED is not None:
        SHARED.stop()


class EmulatorCase(unittest.TestCase):
    """Uses the module's shared emulator; faults are cleared after each test."""

    def setUp(self):
        self.c = Client(SHARED.port)

    def tearDown(self):
        self.c.request("DELETE", "/_emulator/faults", token=None)

    @classmethod
    def tearDownClass(cls):
        text = SHARED.stderr_text() if SHARED else ""
        assert "Traceback" not in text, "emulator raised internally:\n" + text

    def assertError(self, reply, status, code):
        self.assertEqual(reply.status, status, reply)
        body = reply.json()
        self.assertEqual(set(body), {"code", "error", "requestId"}, body)
        self.assertEqual(body["code"], code, body)
        self.assertIsInstance(body["error"], str)
        self.assertTrue(body["requestId"])
        self.assertEqual(reply.headers.get("Content-Type"), "application/json")


# ------------------------------------------------------------ transport

class TestTransport(EmulatorCase):

    def test_versions_need_no_token(self):
        for which in ("minimum", "latest"):
            reply = self.c.get("/v1/versions/pip/%s" % which, token=None)
            self.assertEqual(reply.status, 200)
            self.assertRegex(reply.json(), r"^\d+\.\d+\.\d+$")
        self.assertEqual(self.c.get("/v1/versions/pip/minimum", token=None).json(), "1.0.0")

    def test_missing_token_is_401(self):
        self.assertError(self.c.get("/v1/datasets", token=None), 401, "UNAUTHORIZED")

    def test_wrong_token_is_401(self):
        self.assertError(self.c.get("/v1/datasets", token="nope"), 401, "UNAUTHORIZED")

    def test_bearer_header_is_accepted(self):
        reply = self.c.get("/v1/datasets", token=None,
                           headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual(reply.status, 200)
        reply = self.c.get("/v1/datasets", token=None, headers={"Authorization": "Bearer x"})
        self.assertError(reply, 401, "UNAUTHORIZED")

    def test_every_tag_route_needs_the_token(self):
        ds, tag = self.c.new_dataset(3)
        for method, path in [
                ("GET", "/v1/datasets/%s" % ds), ("GET", "/v1/datasets/%s/tags" % ds),
                ("POST", "/v1/datasets/%s/tags" % ds),
                ("POST", "/v1/datasets/%s/tags/initial" % ds),
                ("GET", "/v1/datasets/%s/tags/%s" % (ds, tag)),
                ("PUT", "/v1/datasets/%s/tags/%s" % (ds, tag)),
                ("DELETE", "/v1/datasets/%s/tags/%s" % (ds, tag)),
                ("GET", "/v1/datasets/%s/tags/%s/filenames" % (ds, tag)),
                ("POST", "/v1/datasets/%s/tags/arithmetics" % ds),
                ("POST", "/v1/datasets/%s/tags/arithmetics/bitmask" % ds),
                ("POST", "/v1/datasets/%s/tags/upsize" % ds),
                ("GET", "/v1/datasets/%s/tags/%s/export/LabelStudioTasks" % (ds, tag)),
                ("GET", "/v1/datasets/%s/tags/%s/export/LabelBoxDataRows" % (ds, tag)),
                ("GET", "/v1/datasets/%s/mappings" % ds)]:
            reply = self.c.request(method, path, token=None,
                                   body={} if method in ("POST", "PUT") else None)
            self.assertError(reply, 401, "UNAUTHORIZED")
        self.assertEqual(len(self.c.tags(ds)), 1)

    def test_unknown_route_is_404_not_found(self):
        self.assertError(self.c.get("/v1/nothing"), 404, "NOT_FOUND")
        self.assertError(self.c.get("/v2/datasets"), 404, "NOT_FOUND")
        self.assertError(self.c.request("PATCH", "/v1/datasets"), 404, "NOT_FOUND")
        self.assertError(self.c.delete("/v1/datasets"), 404, "NOT_FOUND")

    def test_malformed_path_ids_are_400(self):
        ds, tag = self.c.new_dataset(2)
        for path in ("/v1/datasets/xyz", "/v1/datasets/%s/tags" % ds.upper(),
                     "/v1/datasets/%s/tags/%s" % (ds, tag[:-1]),
                     "/v1/datasets/%s/tags/%sa" % (ds, tag),
                     "/v1/datasets/%s/tags/initial" % ds):
            self.assertError(self.c.get(path), 400, "MALFORMED_REQUEST")

    def test_headers_on_every_kind_of_answer(self):
        ds, tag = self.c.new_dataset(3)
        child = self.c.new_tag(ds, "child", tag, [1], 3)
        smp = self.c.ok("GET", "/v1/datasets/%s/mappings" % ds, 200, query={"field": "_id"})[0]
        replies = [
            self.c.get("/v1/datasets"),
            self.c.post("/v1/datasets", {"name": "hdr-set"}),
            self.c.put("/v1/datasets/%s/tags/%s" % (ds, child), {"name": "child2"}),
            self.c.delete("/v1/datasets/%s/tags/%s" % (ds, child)),
            self.c.get("/v1/datasets", token=None),
            self.c.get("/v1/datasets/%s" % ("0" * 24)),
            self.c.post("/v1/datasets", {"name": "x"}),
            self.c.get("/v1/datasets/%s/samples/%s/readurlRedirect" % (ds, smp)),
        ]
        self.assertEqual([r.status for r in replies], [200, 201, 204, 204, 401, 404, 400, 302])
        for reply in replies:
            self.assertEqual(reply.headers.get("Content-Type"), "application/json", reply)
            self.assertEqual(int(reply.headers.get("Content-Length")), len(reply.body), reply)
        self.assertEqual(replies[2].body, b"")
        self.assertEqual(replies[3].body, b"")

    def test_connection_is_reused_across_requests(self):
        ds, tag = self.c.new_dataset(4)
        child = self.c.new_tag(ds, "child", tag, [0], 4)
        conn = http.client.HTTPConnection("127.0.0.1", SHARED.port, timeout=10)
        try:
            conn.request("GET", "/v1/datasets/%s/tags?token=%s" % (ds, TOKEN))
            resp = conn.getresponse()
            resp.read()
            sock = conn.sock
            conn.request("DELETE", "/v1/datasets/%s/tags/%s?token=%s" % (ds, child, TOKEN))
            resp = conn.getresponse()
            self.assertEqual((resp.status, resp.read()), (204, b""))
            conn.request("GET", "/v1/datasets/%s?token=bad" % ds)
            resp = conn.getresponse()
            self.assertEqual(resp.status, 401)
            resp.read()
            body = json.dumps({"name": "via-keepalive"})
            conn.request("POST", "/v1/datasets?token=%s" % TOKEN, body=body,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            self.assertEqual(resp.status, 201)
            resp.read()
            self.assertIs(conn.sock, sock)
            self.assertEqual(resp.getheader("Connection"), "keep-alive")
        finally:
            conn.close()

    def test_bad_json_and_non_object_bodies_are_400(self):
        for raw in (b"{", b"[]", b"\"name\"", b"{\"name\": NaN}", b"\xff\xfe", b""):
            reply = self.c.request("POST", "/v1/datasets", raw=raw)
            self.assertError(reply, 400, "MALFORMED_REQUEST")

    def test_garbage_request_line_gets_json_error(self):
        with socket.create_connection(("127.0.0.1", SHARED.port), timeout=10) as sock:
            sock.sendall(b"NONSENSE\r\n\r\n")
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 400"), head)
        self.assertIn(b"Content-Type: application/json", head)
        self.assertEqual(json.loads(body)["code"], "MALFORMED_REQUEST")

    def test_parallel_clients_are_consistent(self):
        ds, tag = self.c.new_dataset(64)
        results = []
        lock = threading.Lock()

        def worker(n):
            c = Client(SHARED.port)
            mine = []
            for i in range(8):
                mine.append(c.post("/v1/datasets/%s/tags" % ds, {
                    "name": "w%d-%d" % (n, i), "prevTagId": tag,
                    "bitMaskData": mask_of([n, i]), "totSize": 64}).status)
                mine.append(c.post("/v1/datasets/%s/tags" % ds, {
                    "name": "contested-%d" % i, "prevTagId": tag,
                    "bitMaskData": "0x1", "totSize": 64}).status)
                mine.append(c.get("/v1/datasets/%s/mappings" % ds,
                                  query={"field": "fileName"}).status)
            with lock:
                results.extend(mine)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results.count(201), 8 * 8 + 8)
        self.assertEqual(results.count(409), 8 * 8 - 8)
        self.assertEqual(results.count(200), 8 * 8)
        tags = self.c.tags(ds)
        self.assertEqual(len(tags), 1 + 64 + 8)
        self.assertEqual(len({t["name"] for t in tags}), len(tags))

    def test_chunked_request_body_is_read(self):
        conn = http.client.HTTPConnection("127.0.0.1", SHARED.port, timeout=10)
        try:
            body = iter([b'{"name": ', b'"chunked-set"}'])
            conn.request("POST", "/v1/datasets?token=%s" % TOKEN, body=body,
                         headers={"Content-Type": "application/json"},
                         encode_chunked=True)
            resp = conn.getresponse()
            self.assertEqual(resp.status, 201)
            ds = json.loads(resp.read())["id"]
        finally:
            conn.close()
        self.assertEqual(self.c.ok("GET", "/v1/datasets/%s" % ds, 200)["name"], "chunked-set")


# ------------------------------------------------------------- datasets

class TestDatasets(EmulatorCase):

    def test_demo_account_is_realistic(self):
        datasets = self.c.ok("GET", "/v1/datasets", 200)
        names = [d["name"] for d in datasets]
        self.assertEqual(names.count("street-scenes"), 2)
        for wanted in ("warehouse-pallets", "medical-xray", "small-set"):
            self.assertIn(wanted, names)
        street = datasets[names.index("street-scenes")]
        files = self.c.names(street["id"])
        self.assertTrue(10 <= len(files) <= 60)
        self.assertTrue(all("/" in f for f in files))
        self.assertEqual(len(files), street["nSamples"])
        tags = {t["name"]: t for t in self.c.tags(street["id"])}
        self.assertIsNone(tags["initial-tag"]["prevTagId"])
        self.assertEqual(tags["night"]["prevTagId"], tags["initial-tag"]["id"])
        self.assertEqual(tags["night-blurry"]["prevTagId"], tags["night"]["id"])
        self.assertIn("to-label", tags)
        night = set(indices_of(tags["night"]["bitMaskData"]))
        self.assertTrue(set(indices_of(tags["night-blurry"]["bitMaskData"])) <= night)
        for ds in datasets:
            for tag in self.c.tags(ds["id"]):
                self.assertEqual(tag["totSize"], ds["nSamples"], (ds["name"], tag["name"]))

    def test_dataset_data_shape(self):
        ds, _ = self.c.new_dataset(5, name="shape-set")
        data = self.c.ok("GET", "/v1/datasets/%s" % ds, 200)
        self.assertEqual(set(data), {"id", "name", "userId", "type", "imgType", "nSamples",
                                     "sizeInBytes", "createdAt", "lastModifiedAt"})
        self.assertEqual((data["id"], data["name"], data["type"], data["imgType"],
                          data["nSamples"]), (ds, "shape-set", "Images", "full", 5))
        self.assertIsInstance(data["createdAt"], int)
        self.assertGreater(data["createdAt"], 1_600_000_000_000)
        self.assertGreater(data["sizeInBytes"], 0)

    def test_list_is_in_creation_order_and_paged(self):
        everything = self.c.ok("GET", "/v1/datasets", 200)
        a = self.c.ok("POST", "/v1/datasets", 201, body={"name": "order-a"})["id"]
        b = self.c.ok("POST", "/v1/datasets", 201, body={"name": "order-b"})["id"]
        listed = [d["id"] for d in self.c.ok("GET", "/v1/datasets", 200)]
        self.assertEqual(listed[-2:], [a, b])
        self.assertEqual(listed[:len(everything)], [d["id"] for d in everything])
        page = self.c.ok("GET", "/v1/datasets", 200,
                         query={"pageSize": 2, "pageOffset": 1, "shared": "False",
                                "getAssetsOfTeam": "True"})
        self.assertEqual([d["id"] for d in page], listed[1:3])
        self.assertEqual(self.c.ok("GET", "/v1/datasets", 200,
                                   query={"pageOffset": len(listed)}), [])
        for bad in ({"pageSize": 0}, {"pageSize": "x"}, {"pageOffset": -1}):
            self.assertError(self.c.get("/v1/datasets", query=bad), 400, "MALFORMED_REQUEST")

    def test_create_validates_name_and_enums(self):
        ok = self.c.ok("POST", "/v1/datasets", 201,
                       body={"name": "Cam 0_night-2", "type": "Videos", "imgType": "meta"})
        data = self.c.ok("GET", "/v1/datasets/%s" % ok["id"], 200)
        self.assertEqual((data["type"], data["imgType"]), ("Videos", "meta"))
        self.assertRegex(ok["id"], RE_ID)
        for body in ({}, {"name": "ab"}, {"name": "-abc"}, {"name": "a/bc"},
                     {"name": "abc.d"}, {"name": 12345}, {"name": "good", "type": "Audio"},
                     {"name": "good", "imgType": "huge"}):
            self.assertError(self.c.post("/v1/datasets", body), 400, "MALFORMED_REQUEST")

    def test_unknown_dataset_is_404(self):
        missing = "ab" * 12
        for path in ("/v1/datasets/%s", "/v1/datasets/%s/tags", "/v1/datasets/%s/samples"):
            self.assertError(self.c.get(path % missing), 404, "DATASET_UNKNOWN")
        self.assertError(self.c.get("/v1/datasets/%s/mappings" % missing,
                                    query={"field": "fileName"}), 404, "DATASET_UNKNOWN")
        self.assertError(self.c.post("/v1/datasets/%s/tags/initial" % missing,
                                     {"imgType": "full"}), 404, "DATASET_UNKNOWN")

    def test_duplicate_dataset_names_are_allowed(self):
        a = self.c.ok("POST", "/v1/datasets", 201, body={"name": "twin"})["id"]
        b = self.c.ok("POST", "/v1/datasets", 201, body={"name": "twin"})["id"]
        self.assertNotEqual(a, b)


# -------------------------------------------------------------- samples

class TestSamples(EmulatorCase):

    def test_create_sample_and_list_it(self):
        ds, _ = self.c.new_dataset(0, initial=False)
        sid = self.c.ok("POST", "/v1/datasets/%s/samples" % ds, 201, body={
            "fileName": "cam0/a.jpg", "metaData": {"width": 640}, "thumbName": "t.jpg"})["id"]
        self.assertRegex(sid, RE_ID)
        samples = self.c.ok("GET", "/v1/datasets/%s/samples" % ds, 200)
        self.assertEqual(len(samples), 1)
        smp = samples[0]
        self.assertEqual((smp["id"], smp["datasetId"], smp["fileName"]), (sid, ds, "cam0/a.jpg"))
        self.assertEqual(smp["metaData"], {"width": 640})
        self.assertEqual(smp["thumbName"], "t.jpg")
        self.assertIsInstance(smp["createdAt"], int)
        self.assertIsInstance(smp["lastModifiedAt"], int)
        self.assertEqual(self.c.ok("GET", "/v1/datasets/%s" % ds, 200)["nSamples"], 1)

    def test_duplicate_file_name_is_409(self):
        ds, _ = self.c.new_dataset(0, initial=False)
        self.c.ok("POST", "/v1/datasets/%s/samples" % ds, 201, body={"fileName": "a.jpg"})
        reply = self.c.post("/v1/datasets/%s/samples" % ds, {"fileName": "a.jpg"})
        self.assertError(reply, 409, "SAMPLE_FILENAME_EXISTS")

    def test_bad_file_names_are_400(self):
        ds, _ = self.c.new_dataset(0, initial=False)
        for name in ("", "/abs.jpg", "a/../b.jpg", "./a.jpg", "a//b.jpg", "dir/", "x" * 256,
                     "nul\x00.jpg", 7, None):
            reply = self.c.post("/v1/datasets/%s/samples" % ds, {"fileName": name})
            self.assertError(reply, 400, "MALFORMED_REQUEST")
        self.assertError(self.c.post("/v1/datasets/%s/samples" % ds, {"other": 1}),
                         400, "MALFORMED_REQUEST")
        self.c.ok("POST", "/v1/datasets/%s/samples" % ds, 201, body={"fileName": "x" * 255})

    def test_raw_route_keeps_hostile_names_unchecked(self):
        hostile = ["", "/abs", "../up", "a//b", "new\nline", "tab\tname", "space name ",
                   "ünï/cödé/日本.jpg", "dup", "dup", "x" * 1000, "..", "back\\slash",
                   "quote\"s", "emoji-\U0001F600.png"]
        ds, _ = self.c.new_dataset(0, initial=False)
        reply = self.c.ok("POST", "/_emulator/datasets/%s/samples" % ds, 201,
                          body={"fileNames": hostile}, token=None)
        self.assertEqual(reply, {"count": len(hostile), "nSamples": len(hostile)})
        self.assertEqual(self.c.names(ds), hostile)
        # the listing writes these rows from a template: the names must
        # still come back as JSON strings equal to what was stored
        samples = self.c.ok("GET", "/v1/datasets/%s/samples" % ds, 200)
        self.assertEqual([smp["fileName"] for smp in samples], hostile)
        raw = self.c.get("/v1/datasets/%s/mappings" % ds, query={"field": "fileName"}).body
        self.assertIn("日本".encode("utf-8"), raw)
        for bad in ({"fileNames": "a"}, {"fileNames": [1]}, {}):
            self.assertError(self.c.post("/_emulator/datasets/%s/samples" % ds, bad, token=None),
                             400, "MALFORMED_REQUEST")
        self.assertError(self.c.post("/_emulator/datasets/%s/samples" % ("1" * 24),
                                     {"fileNames": ["a"]}, token=None), 404, "DATASET_UNKNOWN")

    def test_samples_listing_is_paged(self):
        ds, _ = self.c.new_dataset(7)
        every = self.c.ok("GET", "/v1/datasets/%s/samples" % ds, 200)
        self.assertEqual([s["fileName"] for s in every], ["img/%05d.png" % i for i in range(7)])
        page = self.c.ok("GET", "/v1/datasets/%s/samples" % ds, 200,
                         query={"pageSize": 3, "pageOffset": 5})
        self.assertEqual(page, every[5:])

    def test_samples_listing_mixes_template_rows_and_client_fields(self):
        ds, _ = self.c.new_dataset(3)
        self.c.ok("POST", "/v1/datasets/%s/samples" % ds, 201, body={
            "fileName": "c.jpg", "metaData": {"width": 640}, "thumbName": "t.jpg"})
        samples = self.c.ok("GET", "/v1/datasets/%s/samples" % ds, 200,
                            query={"pageSize": 3, "pageOffset": 1})
        self.assertEqual([smp["fileName"] for smp in samples],
                         ["img/00001.png", "img/00002.png", "c.jpg"])
        for smp in samples[:2]:
            self.assertEqual(set(smp), {"id", "type", "datasetId", "fileName", "createdAt",
                                        "lastModifiedAt", "metaData"})
            self.assertEqual((smp["type"], smp["datasetId"]), ("IMAGE", ds))
            self.assertEqual(smp["createdAt"], smp["lastModifiedAt"])
            self.assertEqual(set(smp["metaData"]), {"sizeInBytes", "shape"})
            self.assertEqual(len(smp["metaData"]["shape"]), 3)
            status, _, body = fetch(read_url(self.c, ds, smp["id"]))
            self.assertEqual((status, len(body)), (200, smp["metaData"]["sizeInBytes"]))
        self.assertEqual((samples[2]["metaData"], samples[2]["thumbName"]),
                         ({"width": 640}, "t.jpg"))

    def test_mappings_in_index_order_and_paged(self):
        ds, _ = self.c.new_dataset(10)
        names = self.c.names(ds)
        self.assertEqual(names, ["img/%05d.png" % i for i in range(10)])
        ids = self.c.ok("GET", "/v1/datasets/%s/mappings" % ds, 200, query={"field": "_id"})
        self.assertEqual(len(set(ids)), 10)
        self.assertTrue(all(RE_ID.match(i) for i in ids))
        samples = self.c.ok("GET", "/v1/datasets/%s/samples" % ds, 200)
        self.assertEqual([s["id"] for s in samples], ids)
        got = []
        offset = 0
        while True:
            page = self.c.ok("GET", "/v1/datasets/%s/mappings" % ds, 200,
                             query={"field": "fileName", "pageSize": 4, "pageOffset": offset})
            got.extend(page)
            offset += 4
            if len(page) < 4:
                break
        self.assertEqual(got, names)
        self.assertEqual(self.c.ok("GET", "/v1/datasets/%s/mappings" % ds, 200,
                                   query={"field": "fileName", "pageOffset": 8}), names[8:])
        for bad in ({}, {"field": "name"}, {"field": "fileName", "pageSize": -1}):
            self.assertError(self.c.get("/v1/datasets/%s/mappings" % ds, query=bad),
                             400, "MALFORMED_REQUEST")

    def test_readurl_serves_image_without_token(self):
        ds, _ = self.c.new_dataset(2)
        sid = self.c.ok("GET", "/v1/datasets/%s/mappings" % ds, 200, query={"field": "_id"})[1]
        url = self.c.ok("GET", "/v1/datasets/%s/samples/%s/readurl" % (ds, sid), 200,
                        query={"type": "full"})
        self.assertIsInstance(url, str)
        self.assertNotIn(TOKEN, url)
        with urllib.request.urlopen(url, timeout=10) as resp:
            self.assertEqual(resp.status, 200)
            data = resp.read()
        self.assertTrue(data.startswith(b"\x89PNG"))
        size = self.c.ok("GET", "/v1/datasets/%s" % ds, 200)["sizeInBytes"]
        self.assertEqual(size, 2 * len(data))
        tampered = url.replace("sig=", "sig=0")
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(tampered, timeout=10)
        self.assertEqual(ctx.exception.code, 403)
        ctx.exception.close()
        self.assertError(self.c.get("/v1/datasets/%s/samples/%s/readurl" % (ds, "c" * 24)),
                         404, "SAMPLE_UNKNOWN")
        self.assertError(self.c.get("/v1/datasets/%s/samples/%s/readurl" % (ds, sid),
                                    query={"type": "huge"}), 400, "MALFORMED_REQUEST")

    def test_readurl_redirect_points_at_the_image(self):
        ds, _ = self.c.new_dataset(1)
        sid = self.c.ok("GET", "/v1/datasets/%s/mappings" % ds, 200, query={"field": "_id"})[0]
        reply = self.c.get("/v1/datasets/%s/samples/%s/readurlRedirect" % (ds, sid),
                           query={"type": "full"})
        self.assertEqual(reply.status, 302)
        location = reply.headers["Location"]
        with urllib.request.urlopen(location, timeout=10) as resp:
            self.assertTrue(resp.read().startswith(b"\x89PNG"))
        reply = self.c.get("/v1/datasets/%s/samples/%s/readurlRedirect" % (ds, sid), token=None)
        self.assertError(reply, 401, "UNAUTHORIZED")
        reply = self.c.get("/v1/datasets/%s/samples/%s/readurlRedirect" % (ds, sid), token=None,
                           query={"publicToken": "9999999999.00"})
        self.assertError(reply, 401, "UNAUTHORIZED")


# ------------------------------------------------------------------ tags

TAG_KEYS = {"id", "datasetId", "prevTagId", "name", "bitMaskData", "totSize",
            "createdAt", "lastModifiedAt", "changes"}


class TestTagReads(EmulatorCase):

    def test_tag_data_shape_and_initial_tag(self):
        ds, tag = self.c.new_dataset(6)
        data = self.c.tag(ds, tag)
        self.assertEqual(set(data), TAG_KEYS)
        self.assertIsNone(data["prevTagId"])
        self.assertEqual(data["name"], "initial-tag")
        self.assertEqual(data["bitMaskData"], "0x3f")
        self.assertEqual(data["totSize"], 6)
        self.assertEqual(data["datasetId"], ds)
        self.assertEqual(data["changes"], [])
        raw = self.c.get("/v1/datasets/%s/tags/%s" % (ds, tag)).body.decode()
        self.assertIn('"prevTagId":null', raw.replace(" ", ""))

    def test_optional_tag_fields_only_when_set(self):
        ds, tag = self.c.new_dataset(4)
        run, query = "1" * 24, "2" * 24
        tid = self.c.ok("POST", "/v1/datasets/%s/tags" % ds, 201, body={
            "name": "with-extras", "prevTagId": tag, "queryTagId": query,
            "preselectedTagId": tag, "bitMaskData": "0x5", "totSize": 4, "runId": run,
            "creator": "SAMPLER_CORESET", "changes": {"sampler": "coreset"}})["id"]
        data = self.c.tag(ds, tid)
        self.assertEqual(set(data), TAG_KEYS | {"queryTagId", "preselectedTagId", "runId"})
        self.assertEqual((data["queryTagId"], data["preselectedTagId"], data["runId"]),
                         (query, tag, run))
        self.assertEqual(len(data["changes"]), 1)
        self.assertEqual(data["changes"][0]["changes"], {"sampler": "coreset"})
        self.assertEqual(data["changes"][0]["creator"], "SAMPLER_CORESET")
        plain = self.c.tag(ds, self.c.new_tag(ds, "plain", tag, [0], 4))
        self.assertEqual(set(plain), TAG_KEYS)

    def test_list_in_creation_order(self):
        ds, tag = self.c.new_dataset(4)
        a = self.c.new_tag(ds, "zeta", tag, [0], 4)
        b = self.c.new_tag(ds, "alpha", a, [0], 4)
        self.assertEqual([t["id"] for t in self.c.tags(ds)], [tag, a, b])

    def test_unknown_tag_is_404(self):
        ds, tag = self.c.new_dataset(2)
        other, other_tag = self.c.new_dataset(2)
        self.assertError(self.c.get("/v1/datasets/%s/tags/%s" % (ds, "d" * 24)),
                         404, "TAG_UNKNOWN")
        self.assertError(self.c.get("/v1/datasets/%s/tags/%s" % (ds, other_tag)),
                         404, "TAG_UNKNOWN")
        self.assertError(self.c.get("/v1/datasets/%s/tags/%s/filenames" % (ds, "d" * 24)),
                         404, "TAG_UNKNOWN")
        self.assertError(self.c.delete("/v1/datasets/%s/tags/%s" % (ds, other_tag)),
                         404, "TAG_UNKNOWN")
        self.assertError(self.c.put("/v1/datasets/%s/tags/%s" % (ds, "d" * 24), {"name": "abc"}),
                         404, "TAG_UNKNOWN")

    def test_filenames_match_bitmask_over_mappings(self):
        names = ["z/last.jpg", "a/first.jpg", "m/mid dle.jpg", "b.jpg", "c.jpg", "d.jpg",
                 "e.jpg", "f.jpg", "g.jpg"]
        ds, tag = self.c.new_dataset(names=names)
        tid = self.c.new_tag(ds, "some", tag, [0, 3, 4, 6], len(names))
        self.assertEqual(self.c.tag(ds, tid)["bitMaskData"], "0x59")
        got = self.c.ok("GET", "/v1/datasets/%s/tags/%s/filenames" % (ds, tid), 200)
        mapping = self.c.names(ds)
        self.assertEqual(got, [mapping[i] for i in indices_of("0x59")])
        self.assertEqual(got, ["z/last.jpg", "b.jpg", "c.jpg", "e.jpg"])
        empty = self.c.new_tag(ds, "empty", tag, [], len(names))
        self.assertEqual(self.c.tag(ds, empty)["bitMaskData"], "0x0")
        self.assertEqual(self.c.ok("GET", "/v1/datasets/%s/tags/%s/filenames" % (ds, empty),
                                   200), [])


class TestTagWrites(EmulatorCase):

    def test_initial_tag_rules(self):
        ds, _ = self.c.new_dataset(3, initial=False)
        path = "/v1/datasets/%s/tags/initial" % ds
        self.assertError(self.c.post(path, {}), 400, "MALFORMED_REQUEST")
        self.assertError(self.c.post(path, {"imgType": "large"}), 400, "MALFORMED_REQUEST")
        self.assertError(self.c.post(path, {"imgType": "full", "name": "ab"}),
                         400, "MALFORMED_REQUEST")
        tid = self.c.ok("POST", path, 201, body={"imgType": "full", "name": "everything",
                                                 "creator": "USER_PIP"})["id"]
        self.assertRegex(tid, RE_ID)
        data = self.c.tag(ds, tid)
        self.assertEqual((data["name"], data["bitMaskData"], data["totSize"]),
                         ("everything", "0x7", 3))
        self.assertError(self.c.post(path, {"imgType": "full", "name": "second"}),
                         409, "TAG_INITIAL_EXISTS")

    def test_initial_tag_of_empty_dataset(self):
        ds, tag = self.c.new_dataset(0)
        data = self.c.tag(ds, tag)
        self.assertEqual((data["bitMaskData"], data["totSize"]), ("0x0", 0))

    def test_create_needs_a_tag_in_the_dataset(self):
        ds, _ = self.c.new_dataset(3, initial=False)
        _, foreign = self.c.new_dataset(3)
        reply = self.c.post("/v1/datasets/%s/tags" % ds, {
            "name": "first", "prevTagId": foreign, "bitMaskData": "0x1", "totSize": 3})
        self.assertError(reply, 400, "TAG_NO_TAG_IN_DATASET")

    def test_prev_tag_must_be_in_dataset(self):
        ds, tag = self.c.new_dataset(3)
        _, foreign = self.c.new_dataset(3)
        for prev in (foreign, "e" * 24):
            reply = self.c.post("/v1/datasets/%s/tags" % ds, {
                "name": "child", "prevTagId": prev, "bitMaskData": "0x1", "totSize": 3})
            self.assertError(reply, 400, "TAG_PREVTAG_NOT_IN_DATASET")

    def test_tag_name_must_be_unique_in_dataset(self):
        ds, tag = self.c.new_dataset(3)
        self.c.new_tag(ds, "dup-name", tag, [0], 3)
        reply = self.c.post("/v1/datasets/%s/tags" % ds, {
            "name": "dup-name", "prevTagId": tag, "bitMaskData": "0x2", "totSize": 3})
        self.assertError(reply, 409, "TAG_NAME_EXISTS")
        reply = self.c.post("/v1/datasets/%s/tags" % ds, {
            "name": "initial-tag", "prevTagId": tag, "bitMaskData": "0x2", "totSize": 3})
        self.assertError(reply, 409, "TAG_NAME_EXISTS")
        other, other_tag = self.c.new_dataset(3)
        self.c.new_tag(other, "dup-name", other_tag, [0], 3)

    def test_create_validates_body(self):
        ds, tag = self.c.new_dataset(8)
        good = {"name": "valid", "prevTagId": tag, "bitMaskData": "0x81", "totSize": 8}
        bad_values = [
            ("name", "ab"), ("name", ".hidden"), ("name", "a/b/c"), ("name", "a+b"),
            ("name", "a&b"), ("name", "a~b"), ("name", "a|b"), ("name", "a!b"), ("name", "a,b"),
            ("name", "a(b)"), ("name", 123), ("name", None),
            ("prevTagId", "xyz"), ("prevTagId", None), ("prevTagId", tag.upper()),
            ("bitMaskData", "0X81"), ("bitMaskData", "0x0081"), ("bitMaskData", "81"),
            ("bitMaskData", "0xA1"), ("bitMaskData", "0x"), ("bitMaskData", "0xg1"),
            ("bitMaskData", "0x100"), ("bitMaskData", 129), ("bitMaskData", "0x00"),
            ("totSize", -1), ("totSize", "8"), ("totSize", True), ("totSize", 1.5),
            ("creator", "ROBOT"), ("changes", "text"), ("queryTagId", "q"), ("runId", "r"),
        ]
        for key, value in bad_values:
            body = dict(good, **{key: value})
            reply = self.c.post("/v1/datasets/%s/tags" % ds, body)
            self.assertError(reply, 400, "MALFORMED_REQUEST")
        for key in ("name", "prevTagId", "bitMaskData", "totSize"):
            body = {k: v for k, v in good.items() if k != key}
            self.assertError(self.c.post("/v1/datasets/%s/tags" % ds, body),
                             400, "MALFORMED_REQUEST")
        self.assertEqual(len(self.c.tags(ds)), 1)
        for name in ("a.b:c;d=e@f_g-h i", "0ab", "Tag.2024-05-01"):
            tid = self.c.ok("POST", "/v1/datasets/%s/tags" % ds, 201,
                            body=dict(good, name=name))["id"]
            self.assertEqual(self.c.tag(ds, tid)["name"], name)
        tid = self.c.ok("POST", "/v1/datasets/%s/tags" % ds, 201,
                        body=dict(good, name="top-bit", bitMaskData="0x80"))["id"]
        self.assertEqual(indices_of(self.c.tag(ds, tid)["bitMaskData"]), [7])

    def test_update_renames_and_records_change(self):
        ds, tag = self.c.new_dataset(5)
        tid = self.c.new_tag(ds, "old-name", tag, [0, 1], 5)
        other = self.c.new_tag(ds, "taken", tag, [2], 5)
        before = self.c.tag(ds, tid)
        time.sleep(0.01)
        reply = self.c.put("/v1/datasets/%s/tags/%s" % (ds, tid),
                           {"name": "new-name", "updateCreator": "USER_WEBAPP"})
        self.assertEqual((reply.status, reply.body), (204, b""))
        after = self.c.tag(ds, tid)
        self.assertEqual(after["name"], "new-name")
        self.assertEqual(after["bitMaskData"], before["bitMaskData"])
        self.assertGreater(after["lastModifiedAt"], before["lastModifiedAt"])
        self.assertEqual(after["createdAt"], before["createdAt"])
        self.assertEqual(len(after["changes"]), 1)
        change = after["changes"][0]
        self.assertEqual(set(change), {"userId", "creator", "ts", "changes"})
        self.assertEqual(change["creator"], "USER_WEBAPP")
        self.assertIsInstance(change["ts"], int)
        self.assertEqual(change["changes"]["name"], {"from": "old-name", "to": "new-name"})
        self.assertError(self.c.put("/v1/datasets/%s/tags/%s" % (ds, tid), {"name": "taken"}),
                         409, "TAG_NAME_EXISTS")
        self.c.ok("PUT", "/v1/datasets/%s/tags/%s" % (ds, other), 204, body={"name": "taken"})
        self.assertEqual(self.c.tag(ds, other)["name"], "taken")

    def test_update_bitmask(self):
        ds, tag = self.c.new_dataset(5)
        tid = self.c.new_tag(ds, "edit-me", tag, [0, 1], 5)
        self.c.ok("PUT", "/v1/datasets/%s/tags/%s" % (ds, tid), 204,
                  body={"name": "edit-me", "bitMaskData": mask_of([1, 4])})
        data = self.c.tag(ds, tid)
        self.assertEqual(indices_of(data["bitMaskData"]), [1, 4])
        self.assertEqual(data["changes"][-1]["changes"],
                         {"bitMaskData": {"added": 1, "removed": 1}})
        self.c.ok("PUT", "/v1/datasets/%s/tags/%s" % (ds, tid), 204,
                  body={"name": "edit-me", "changes": {"why": "manual"}})
        self.assertEqual(self.c.tag(ds, tid)["changes"][-1]["changes"], {"why": "manual"})
        for body in ({}, {"bitMaskData": "0x1"}, {"name": "edit-me", "bitMaskData": "0x20"},
                     {"name": "edit-me", "bitMaskData": "0x01"}, {"name": "x"},
                     {"name": "edit-me", "updateCreator": "nobody"}):
            self.assertError(self.c.put("/v1/datasets/%s/tags/%s" % (ds, tid), body),
                             400, "MALFORMED_REQUEST")
        self.assertEqual(indices_of(self.c.tag(ds, tid)["bitMaskData"]), [1, 4])

    def test_delete_rules(self):
        ds, tag = self.c.new_dataset(4)
        parent = self.c.new_tag(ds, "parent", tag, [0, 1], 4)
        child = self.c.new_tag(ds, "child", parent, [0], 4)
        path = "/v1/datasets/%s/tags/%s"
        self.assertError(self.c.delete(path % (ds, tag)), 400, "TAG_UNDELETABLE_IS_INITIAL")
        self.assertError(self.c.delete(path % (ds, parent)), 400, "TAG_UNDELETABLE_NOT_A_LEAF")
        reply = self.c.delete(path % (ds, child))
        self.assertEqual((reply.status, reply.body), (204, b""))
        self.assertError(self.c.get(path % (ds, child)), 404, "TAG_UNKNOWN")
        self.assertError(self.c.delete(path % (ds, child)), 404, "TAG_UNKNOWN")
        self.c.ok("DELETE", path % (ds, parent), 204)
        self.assertEqual([t["id"] for t in self.c.tags(ds)], [tag])
        self.assertError(self.c.delete(path % (ds, tag)), 400, "TAG_UNDELETABLE_IS_INITIAL")


class TestArithmetics(EmulatorCase):

    def setUp(self):
        super().setUp()
        self.n = 70
        self.ds, self.initial = self.c.new_dataset(self.n)
        self.a_idx = [0, 3, 4, 6, 65, 69]
        self.b_idx = [3, 5, 6, 64, 65]
        self.a = self.c.new_tag(self.ds, "set-a", self.initial, self.a_idx, self.n)
        self.b = self.c.new_tag(self.ds, "set-b", self.initial, self.b_idx, self.n)

    def expected(self, op):
        a, b = set(self.a_idx), set(self.b_idx)
        return sorted({"UNION": a | b, "INTERSECTION": a & b, "DIFFERENCE": a - b}[op])

    def test_bitmask_operations(self):
        for op in ("UNION", "INTERSECTION", "DIFFERENCE"):
            for path in ("arithmetics", "arithmetics/bitmask"):
                got = self.c.ok("POST", "/v1/datasets/%s/tags/%s" % (self.ds, path), 200,
                                body={"tagId1": self.a, "tagId2": self.b, "operation": op})
                self.assertEqual(set(got), {"bitMaskData"})
                self.assertRegex(got["bitMaskData"], RE_BITMASK)
                self.assertEqual(indices_of(got["bitMaskData"]), self.expected(op), op)
        got = self.c.ok("POST", "/v1/datasets/%s/tags/arithmetics/bitmask" % self.ds, 200,
                        body={"tagId1": self.b, "tagId2": self.a, "operation": "DIFFERENCE"})
        self.assertEqual(indices_of(got["bitMaskData"]), [5, 64])
        got = self.c.ok("POST", "/v1/datasets/%s/tags/arithmetics/bitmask" % self.ds, 200,
                        body={"tagId1": self.a, "tagId2": self.a, "operation": "DIFFERENCE"})
        self.assertEqual(got["bitMaskData"], "0x0")

    def test_new_tag_from_arithmetics(self):
        got = self.c.ok("POST", "/v1/datasets/%s/tags/arithmetics" % self.ds, 200, body={
            "tagId1": self.a, "tagId2": self.b, "operation": "INTERSECTION",
            "newTagName": "a-and-b", "creator": "USER_PIP"})
        self.assertEqual(set(got), {"id"})
        data = self.c.tag(self.ds, got["id"])
        self.assertEqual(data["name"], "a-and-b")
        self.assertEqual(data["prevTagId"], self.a)
        self.assertEqual(data["totSize"], self.n)
        self.assertEqual(indices_of(data["bitMaskData"]), self.expected("INTERSECTION"))
        self.assertError(self.c.delete("/v1/datasets/%s/tags/%s" % (self.ds, self.a)),
                         400, "TAG_UNDELETABLE_NOT_A_LEAF")
        reply = self.c.post("/v1/datasets/%s/tags/arithmetics" % self.ds, {
            "tagId1": self.a, "tagId2": self.b, "operation": "UNION", "newTagName": "a-and-b"})
        self.assertError(reply, 409, "TAG_NAME_EXISTS")

    def test_bitmask_route_never_creates_a_tag(self):
        count = len(self.c.tags(self.ds))
        self.c.ok("POST", "/v1/datasets/%s/tags/arithmetics/bitmask" % self.ds, 200, body={
            "tagId1": self.a, "tagId2": self.b, "operation": "UNION", "newTagName": "nope"})
        self.assertEqual(len(self.c.tags(self.ds)), count)

    def test_arithmetics_errors(self):
        path = "/v1/datasets/%s/tags/arithmetics" % self.ds
        for body in ({"tagId1": self.a, "tagId2": self.b},
                     {"tagId1": self.a, "tagId2": self.b, "operation": "XOR"},
                     {"tagId1": self.a, "operation": "UNION"},
                     {"tagId1": "short", "tagId2": self.b, "operation": "UNION"},
                     {"tagId1": self.a, "tagId2": self.b, "operation": "UNION",
                      "newTagName": "/bad"}):
            self.assertError(self.c.post(path, body), 400, "MALFORMED_REQUEST")
        _, foreign = self.c.new_dataset(2)
        for path in ("arithmetics", "arithmetics/bitmask"):
            reply = self.c.post("/v1/datasets/%s/tags/%s" % (self.ds, path),
                                {"tagId1": self.a, "tagId2": foreign, "operation": "UNION"})
            self.assertError(reply, 404, "TAG_UNKNOWN")


class TestUpsize(EmulatorCase):

    def test_upsize_adds_new_samples(self):
        ds, initial = self.c.new_dataset(5)
        side = self.c.new_tag(ds, "side", initial, [1, 2], 5)
        self.c.ok("POST", "/_emulator/datasets/%s/samples" % ds, 201,
                  body={"fileNames": ["new/%d.png" % i for i in range(3)]}, token=None)
        self.assertEqual(self.c.tag(ds, initial)["totSize"], 5)
        got = self.c.ok("POST", "/v1/datasets/%s/tags/upsize" % ds, 201, body={
            "upsizeTagName": "added-later", "upsizeTagCreator": "USER_PIP",
            "runId": "f" * 24})
        new = self.c.tag(ds, got["id"])
        self.assertEqual(new["name"], "added-later")
        self.assertEqual(new["prevTagId"], initial)
        self.assertEqual(new["runId"], "f" * 24)
        self.assertEqual(indices_of(new["bitMaskData"]), [5, 6, 7])
        self.assertEqual(self.c.ok("GET", "/v1/datasets/%s/tags/%s/filenames" % (ds, got["id"]),
                                   200), ["new/0.png", "new/1.png", "new/2.png"])
        self.assertEqual(self.c.tag(ds, initial)["bitMaskData"], "0xff")
        self.assertEqual(indices_of(self.c.tag(ds, side)["bitMaskData"]), [1, 2])
        self.assertEqual({t["totSize"] for t in self.c.tags(ds)}, {8})

    def test_upsize_errors(self):
        ds, _ = self.c.new_dataset(2, initial=False)
        body = {"upsizeTagName": "more", "upsizeTagCreator": "USER_PIP"}
        self.assertError(self.c.post("/v1/datasets/%s/tags/upsize" % ds, body),
                         400, "TAG_NO_TAG_IN_DATASET")
        ds, _ = self.c.new_dataset(2)
        for bad in ({"upsizeTagName": "more"}, {"upsizeTagCreator": "USER_PIP"},
                    {"upsizeTagName": "m", "upsizeTagCreator": "USER_PIP"},
                    {"upsizeTagName": "more", "upsizeTagCreator": "SOMEONE"}):
            self.assertError(self.c.post("/v1/datasets/%s/tags/upsize" % ds, bad),
                             400, "MALFORMED_REQUEST")
        self.assertError(self.c.post("/v1/datasets/%s/tags/upsize" % ds,
                                     dict(body, upsizeTagName="initial-tag")),
                         409, "TAG_NAME_EXISTS")
        tid = self.c.ok("POST", "/v1/datasets/%s/tags/upsize" % ds, 201, body=body)["id"]
        self.assertEqual(self.c.tag(ds, tid)["bitMaskData"], "0x0")


class TestExports(EmulatorCase):

    def setUp(self):
        super().setUp()
        names = ["cam/%d.jpg" % i for i in range(6)]
        self.ds, initial = self.c.new_dataset(names=names)
        self.tag = self.c.new_tag(self.ds, "export-me", initial, [1, 2, 4, 5], 6)
        self.ids = self.c.ok("GET", "/v1/datasets/%s/mappings" % self.ds, 200,
                             query={"field": "_id"})
        self.base = "/v1/datasets/%s/tags/%s/export/" % (self.ds, self.tag)

    def check_url(self, url, sample_id):
        prefix = "http://127.0.0.1:%d/v1/datasets/%s/samples/%s/readurlRedirect?" % (
            SHARED.port, self.ds, sample_id)
        self.assertTrue(url.startswith(prefix), url)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        self.assertEqual(query["type"], "full")
        self.assertIn("publicToken", query)
        self.assertNotIn("token", query)
        reply = Client(SHARED.port).get(url[len(self.c.base):], token=None)
        self.assertEqual(reply.status, 302)

    def test_label_studio_tasks(self):
        tasks = self.c.ok("GET", self.base + "LabelStudioTasks", 200, query={"expiresIn": 60})
        self.assertEqual([t["id"] for t in tasks], [1, 2, 4, 5])
        for task, idx in zip(tasks, [1, 2, 4, 5]):
            self.assertEqual(set(task), {"id", "data"})
            self.assertEqual(set(task["data"]), {"image", "lightlyFileName", "lightlyMetaInfo"})
            self.assertEqual(task["data"]["lightlyFileName"], "cam/%d.jpg" % idx)
            self.assertEqual(task["data"]["lightlyMetaInfo"]["id"], self.ids[idx])
            self.assertEqual(task["data"]["lightlyMetaInfo"]["fileName"], "cam/%d.jpg" % idx)
            self.check_url(task["data"]["image"], self.ids[idx])
        paged = self.c.ok("GET", self.base + "LabelStudio/tasks", 200,
                          query={"pageSize": 2, "pageOffset": 1})
        self.assertEqual([t["id"] for t in paged], [2, 4])
        self.assertEqual(len(self.c.ok("GET", self.base + "LabelStudio/tasks", 200)), 4)

    def test_label_box_data_rows(self):
        rows = self.c.ok("GET", self.base + "LabelBoxDataRows", 200)
        self.assertEqual([r["externalId"] for r in rows],
                         ["cam/1.jpg", "cam/2.jpg", "cam/4.jpg", "cam/5.jpg"])
        for row, idx in zip(rows, [1, 2, 4, 5]):
            self.assertEqual(set(row), {"externalId", "imageUrl"})
            self.check_url(row["imageUrl"], self.ids[idx])
        paged = self.c.ok("GET", self.base + "LabelBox/datarows", 200,
                          query={"pageSize": 3, "pageOffset": 2})
        self.assertEqual([r["externalId"] for r in paged], ["cam/4.jpg", "cam/5.jpg"])
        preview = self.c.ok("GET", self.base + "LabelBoxDataRows", 200,
                            query={"previewExample": "True"})
        self.assertEqual(len(preview), 1)

    def test_export_errors(self):
        self.assertError(self.c.get(self.base + "LabelBoxDataRows", query={"expiresIn": "x"}),
                         400, "MALFORMED_REQUEST")
        self.assertError(self.c.get(self.base + "LabelStudio/tasks", query={"pageSize": 0}),
                         400, "MALFORMED_REQUEST")
        bad = "/v1/datasets/%s/tags/%s/export/LabelBoxDataRows" % (self.ds, "9" * 24)
        self.assertError(self.c.get(bad), 404, "TAG_UNKNOWN")


# ------------------------------------------------------- stats and faults

class TestStats(EmulatorCase):

    def test_counts_by_route_template(self):
        ds, tag = self.c.new_dataset(3)
        self.c.ok("POST", "/_emulator/stats/reset", 200, token=None)
        self.assertEqual({k: v for k, v in self.c.stats().items() if k in ("total", "routes")},
                         {"total": 0, "routes": {}})
        self.c.tags(ds)
        self.c.tags(ds)
        self.c.tag(ds, tag)
        self.c.get("/v1/datasets", token=None)
        self.c.get("/v1/nowhere")
        self.c.put("/v1/datasets/%s/tags/%s" % (ds, tag), {"name": "renamed"})
        self.c.get("/_emulator/faults", token=None)
        stats = self.c.stats()
        self.assertEqual(stats["routes"], {
            "GET /v1/datasets/{datasetId}/tags": 2,
            "GET /v1/datasets/{datasetId}/tags/{tagId}": 1,
            "GET /v1/datasets": 1,
            "GET <unknown>": 1,
            "PUT /v1/datasets/{datasetId}/tags/{tagId}": 1,
        })
        self.assertEqual(stats["total"], 6)
        self.c.ok("POST", "/_emulator/stats/reset", 200, token=None)
        self.assertEqual(self.c.stats()["total"], 0)

    def test_sample_routes_use_sample_template(self):
        ds, _ = self.c.new_dataset(1)
        sid = self.c.ok("GET", "/v1/datasets/%s/mappings" % ds, 200, query={"field": "_id"})[0]
        self.c.ok("POST", "/_emulator/stats/reset", 200, token=None)
        url = self.c.ok("GET", "/v1/datasets/%s/samples/%s/readurl" % (ds, sid), 200)
        urllib.request.urlopen(url, timeout=10).close()
        self.assertEqual(self.c.stats()["routes"], {
            "GET /v1/datasets/{datasetId}/samples/{sampleId}/readurl": 1,
            "GET /blobs/{datasetId}/{sampleId}": 1})


class TestFaults(EmulatorCase):

    ROUTE = "GET /v1/datasets/{datasetId}/tags"

    def add(self, **spec):
        return self.c.ok("POST", "/_emulator/faults", 201, body=spec, token=None)

    def test_status_fault_with_count(self):
        ds, _ = self.c.new_dataset(2)
        fault = self.add(match=self.ROUTE, status=503, count=2)
        self.assertEqual((fault["match"], fault["status"], fault["count"]), (self.ROUTE, 503, 2))
        self.assertEqual(len(self.c.ok("GET", "/_emulator/faults", 200, token=None)), 1)
        self.c.ok("POST", "/_emulator/stats/reset", 200, token=None)
        for _ in range(2):
            self.assertError(self.c.get("/v1/datasets/%s/tags" % ds), 503, "INJECTED_FAULT")
        self.assertEqual(self.c.get("/v1/datasets/%s" % ds).status, 200)
        self.assertEqual(len(self.c.tags(ds)), 1)
        self.assertEqual(self.c.stats()["routes"][self.ROUTE], 3)
        self.assertEqual(self.c.ok("GET", "/_emulator/faults", 200, token=None), [])

    def test_fault_without_count_lasts_until_cleared(self):
        self.add(match="*", status=500)
        for _ in range(3):
            self.assertError(self.c.get("/v1/versions/pip/minimum", token=None),
                             500, "INJECTED_FAULT")
        self.assertEqual(self.c.get("/_emulator/stats", token=None).status, 200)
        reply = self.c.delete("/_emulator/faults", token=None)
        self.assertEqual(reply.status, 204)
        self.assertEqual(self.c.get("/v1/versions/pip/minimum", token=None).status, 200)

    def test_retry_after_header(self):
        self.add(match="GET /v1/datasets", status=429, retry_after_s=7, count=1)
        reply = self.c.get("/v1/datasets")
        self.assertError(reply, 429, "INJECTED_FAULT")
        self.assertEqual(reply.headers["Retry-After"], "7")
        self.assertEqual(self.c.get("/v1/datasets").status, 200)

    def test_delay_then_serve_normally(self):
        self.add(match="GET /v1/datasets", delay_ms=300, count=1)
        started = time.monotonic()
        reply = self.c.get("/v1/datasets")
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        self.assertEqual(reply.status, 200)
        self.assertIsInstance(reply.json(), list)

    def test_answer_delay_serves_the_state_of_when_it_was_asked(self):
        """answer_delay_ms: answered at once, delivered late, so a change made
        meanwhile is not in it (a stale answer, as a slow way back gives)."""
        ds = self.c.get("/v1/datasets").json()[0]
        self.add(match="GET /v1/datasets/{datasetId}", answer_delay_ms=600, count=1)
        got = {}

        def slow():
            got["reply"] = Client(SHARED.port).get("/v1/datasets/%s" % ds["id"])

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.2)
        self.c.ok("POST", "/_emulator/datasets/%s/samples" % ds["id"], 201,
                  body={"fileNames": ["late-arrival.jpg"]}, token=None)
        t.join()
        self.assertEqual(got["reply"].json()["nSamples"], ds["nSamples"])
        self.assertEqual(self.c.get("/v1/datasets/%s" % ds["id"]).json()["nSamples"],
                         ds["nSamples"] + 1)

    def test_custom_body(self):
        self.add(match="GET /v1/datasets", body="{not json", count=1)
        reply = self.c.get("/v1/datasets")
        self.assertEqual((reply.status, reply.body), (200, b"{not json"))
        self.add(match="GET /v1/datasets", body="[]", status=202, count=1)
        reply = self.c.get("/v1/datasets")
        self.assertEqual((reply.status, reply.body), (202, b"[]"))

    def test_drop_closes_without_answer(self):
        self.add(match="GET /v1/datasets", drop=True, count=1)
        conn = http.client.HTTPConnection("127.0.0.1", SHARED.port, timeout=10)
        try:
            conn.request("GET", "/v1/datasets?token=" + TOKEN)
            with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
                conn.getresponse()
        finally:
            conn.close()
        self.assertEqual(self.c.get("/v1/datasets").status, 200)

    def test_truncate_sends_half_the_body(self):
        ds, _ = self.c.new_dataset(50)
        full = self.c.get("/v1/datasets/%s/tags" % ds).body
        self.add(match=self.ROUTE, truncate=True, count=1)
        conn = http.client.HTTPConnection("127.0.0.1", SHARED.port, timeout=10)
        try:
            conn.request("GET", "/v1/datasets/%s/tags?token=%s" % (ds, TOKEN))
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertEqual(int(resp.getheader("Content-Length")), len(full))
            with self.assertRaises(http.client.IncompleteRead) as ctx:
                resp.read()
            self.assertEqual(len(ctx.exception.partial), len(full) // 2)
        finally:
            conn.close()

    def test_fault_matches_only_its_route(self):
        ds, tag = self.c.new_dataset(2)
        self.add(match=self.ROUTE, status=404)
        self.assertEqual(self.c.get("/v1/datasets/%s/tags/%s" % (ds, tag)).status, 200)
        self.assertError(self.c.get("/v1/datasets/%s/tags" % ds), 404, "INJECTED_FAULT")

    def test_fault_spec_is_validated(self):
        for spec in ({}, {"match": "tags"}, {"match": "*", "status": 42},
                     {"match": "*", "count": 0}, {"match": "*", "drop": "yes"},
                     {"match": "*", "delay_ms": -5}, {"match": "*", "colour": "red"}):
            reply = self.c.post("/_emulator/faults", spec, token=None)
            self.assertError(reply, 400, "MALFORMED_REQUEST")
        self.assertEqual(self.c.ok("GET", "/_emulator/faults", 200, token=None), [])


# ------------------------------------------------------- command line

class TestCommandLine(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.procs = []

    def tearDown(self):
        for proc in self.procs:
            proc.stop(signal.SIGKILL)
        self.tmp.cleanup()

    def start(self, *args, env=None):
        proc = EmulatorProcess(*args, env=env)
        self.procs.append(proc)
        return proc

    def test_help_documents_options(self):
        out = subprocess.run([sys.executable, EMULATOR, "--help"], capture_output=True,
                             text=True, check=True).stdout
        for word in ("--port", "--host", "--token", "--state", "--dataset", "--demo",
                     "emulator-token", "/_emulator/stats", "/_emulator/faults", "port="):
            self.assertIn(word, out)

    def test_custom_token(self):
        proc = self.start("--token", "s3cret")
        c = Client(proc.port, token="s3cret")
        self.assertEqual(c.get("/v1/datasets").status, 200)
        self.assertEqual(c.get("/v1/datasets", token=TOKEN).status, 401)
        self.assertEqual(proc.stop(), 0)

    def test_state_survives_restart(self):
        state = os.path.join(self.tmp.name, "state.sqlite")
        proc = self.start("--state", state, "--dataset", "keep-me:20")
        c = Client(proc.port)
        ds = c.ok("GET", "/v1/datasets", 200)[0]["id"]
        initial = c.tags(ds)[0]["id"]
        child = c.new_tag(ds, "child", initial, [2, 3], 20)
        c.ok("PUT", "/v1/datasets/%s/tags/%s" % (ds, child), 204, body={"name": "kid"})
        sid = c.ok("POST", "/v1/datasets/%s/samples" % ds, 201,
                   body={"fileName": "extra/late.jpg", "metaData": {"k": 1}})["id"]
        other, _ = c.new_dataset(2, name="second")
        before = {"datasets": c.ok("GET", "/v1/datasets", 200), "tags": c.tags(ds),
                  "samples": c.ok("GET", "/v1/datasets/%s/samples" % ds, 200),
                  "names": c.names(ds), "other": c.tags(other)}
        self.assertEqual(proc.stop(signal.SIGTERM), 0)

        proc = self.start("--state", state, "--dataset", "keep-me:20")
        c = Client(proc.port)
        after = {"datasets": c.ok("GET", "/v1/datasets", 200), "tags": c.tags(ds),
                 "samples": c.ok("GET", "/v1/datasets/%s/samples" % ds, 200),
                 "names": c.names(ds), "other": c.tags(other)}
        self.assertEqual(after, before)
        self.assertEqual(after["samples"][-1]["id"], sid)
        url = c.ok("GET", "/v1/datasets/%s/samples/%s/readurl" % (ds, sid), 200)
        self.assertEqual(proc.stop(signal.SIGINT), 0)
        old_port = proc.port
        proc = self.start("--state", state)
        url = url.replace(":%d/" % old_port, ":%d/" % proc.port)
        with urllib.request.urlopen(url, timeout=10) as resp:
            self.assertEqual(resp.status, 200)
        self.assertEqual(proc.stop(), 0)

    def test_demo_is_created_once(self):
        state = os.path.join(self.tmp.name, "demo.sqlite")
        proc = self.start("--state", state, "--demo")
        first = Client(proc.port).ok("GET", "/v1/datasets", 200)
        proc.stop()
        proc = self.start("--state", state, "--demo")
        self.assertEqual(Client(proc.port).ok("GET", "/v1/datasets", 200), first)
        self.assertEqual(len(first), 4)

    def test_temp_state_is_removed_at_exit(self):
        env = dict(os.environ, TMPDIR=self.tmp.name)
        proc = self.start("--dataset", "tmp-set:5", env=env)
        self.assertTrue(os.listdir(self.tmp.name))
        self.assertEqual(Client(proc.port).ok("GET", "/v1/datasets", 200)[0]["nSamples"], 5)
        self.assertEqual(proc.stop(), 0)
        self.assertEqual(os.listdir(self.tmp.name), [])

    def test_bad_dataset_spec_fails(self):
        for spec in ("nocount", "ab:3", "good-name:x"):
            result = subprocess.run([sys.executable, EMULATOR, "--port", "0", "--dataset", spec],
                                    capture_output=True, timeout=10)
            self.assertNotEqual(result.returncode, 0, spec)

    def test_million_samples_start_fast_and_page_in_order(self):
        proc = self.start("--dataset", "big:1000000")
        self.assertLess(proc.startup_s, 30)
        c = Client(proc.port)
        ds = c.ok("GET", "/v1/datasets", 200)[0]
        self.assertEqual(ds["nSamples"], 1_000_000)
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=60)
        total = 0
        last = None
        try:
            for offset in range(0, 1_000_000, 100_000):
                conn.request("GET", "/v1/datasets/%s/mappings?field=fileName&pageSize=100000"
                             "&pageOffset=%d&token=%s" % (ds["id"], offset, TOKEN))
                page = json.loads(conn.getresponse().read())
                self.assertEqual(page[0], "sample_%07d.jpg" % offset)
                total += len(page)
                last = page[-1]
        finally:
            conn.close()
        self.assertEqual((total, last), (1_000_000, "sample_0999999.jpg"))
        self.assertLess(time.monotonic() - started, 10)
        tag = c.tags(ds["id"])[0]
        self.assertEqual((tag["name"], tag["totSize"]), ("initial-tag", 1_000_000))
        self.assertEqual(tag["bitMaskData"], "0x" + "f" * 250_000)
        sys.stderr.write("[1M start %.2f s, 1M names in pages of 100000 %.2f s] "
                         % (proc.startup_s, time.monotonic() - started))


# ------------------------------------------------ storage and sample content

def fetch(url, method="GET", headers=None, timeout=30):
    """(status, headers, body) of a storage URL, errors included, without redirects."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, parts.path + "?" + parts.query, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def samples_of(c, ds):
    return c.ok("GET", "/v1/datasets/%s/samples" % ds, 200)


def read_url(c, ds, sid, kind="full"):
    return c.ok("GET", "/v1/datasets/%s/samples/%s/readurl" % (ds, sid), 200,
                query={"type": kind})


class StorageCase(unittest.TestCase):
    """One emulator per class, started with ARGS."""

    ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.proc = EmulatorProcess(*cls.ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.proc.stop()
        assert "Traceback" not in cls.proc.stderr_text(), cls.proc.stderr_text()

    def setUp(self):
        self.c = Client(self.proc.port)

    def tearDown(self):
        self.c.request("DELETE", "/_emulator/faults", token=None)

    def dataset_named(self, name):
        return [d for d in self.c.ok("GET", "/v1/datasets", 200) if d["name"] == name][0]

    def xml_code(self, body):
        match = re.search(rb"<Code>([^<]*)</Code>", body)
        return match.group(1).decode() if match else None


class TestSampleContent(StorageCase):

    ARGS = ("--blob-sizes", "varied", "--demo", "--dataset", "mixed-set:40")

    def test_bodies_match_listing_sizes_and_types(self):
        ds = self.dataset_named("mixed-set")
        samples = samples_of(self.c, ds["id"])
        sizes = set()
        for smp in samples[:12]:
            status, headers, body = fetch(read_url(self.c, ds["id"], smp["id"]))
            self.assertEqual(status, 200)
            self.assertEqual(len(body), smp["metaData"]["sizeInBytes"])
            self.assertEqual(int(headers["Content-Length"]), len(body))
            self.assertEqual(headers["Content-Type"], "image/jpeg")
            self.assertEqual(headers["Accept-Ranges"], "bytes")
            self.assertTrue(body.startswith(b"\xff\xd8\xff\xe0") and body.endswith(b"\xff\xd9"))
            self.assertEqual(len(smp["metaData"]["shape"]), 3)
            sizes.add(len(body))
        self.assertGreater(len(sizes), 8)
        self.assertTrue(all(4096 <= n <= 6 * 1024 * 1024 for n in sizes), sizes)
        self.assertEqual(ds["sizeInBytes"],
                         sum(s["metaData"]["sizeInBytes"] for s in samples))
        again = fetch(read_url(self.c, ds["id"], samples[0]["id"]))[2]
        self.assertEqual(again, fetch(read_url(self.c, ds["id"], samples[0]["id"]))[2])

    def test_demo_has_png_jpeg_and_a_body_over_8_mib(self):
        sizes = {}
        for ds in self.c.ok("GET", "/v1/datasets", 200):
            for smp in samples_of(self.c, ds["id"]):
                sizes[(ds["name"], smp["fileName"])] = (ds["id"], smp)
        big = [(k, v) for k, v in sizes.items()
               if v[1]["metaData"]["sizeInBytes"] > 8 * 1024 * 1024]
        self.assertTrue(big)
        (_, name), (ds_id, smp) = big[0]
        status, headers, body = fetch(read_url(self.c, ds_id, smp["id"]), timeout=60)
        self.assertEqual((status, len(body)), (200, smp["metaData"]["sizeInBytes"]))
        png = [v for k, v in sizes.items() if k[1].endswith(".png")][0]
        status, headers, body = fetch(read_url(self.c, png[0], png[1]["id"]))
        self.assertEqual(headers["Content-Type"], "image/png")
        self.assertTrue(body.startswith(b"\x89PNG\r\n\x1a\n"))
        self.assertEqual(len(body), png[1]["metaData"]["sizeInBytes"])
        self.assertEqual(struct_u32(body, 16), png[1]["metaData"]["shape"][1])

    @unittest.skipUnless(shutil.which("file"), "file(1) not installed")
    def test_file_recognises_the_images(self):
        ds = self.dataset_named("warehouse-pallets")
        smp = samples_of(self.c, ds["id"])[0]
        street = self.dataset_named("street-scenes")
        jpg = samples_of(self.c, street["id"])[0]
        with tempfile.TemporaryDirectory() as tmp:
            for ds_id, s, ext in ((ds["id"], smp, "png"), (street["id"], jpg, "jpg")):
                path = os.path.join(tmp, "x." + ext)
                with open(path, "wb") as out:
                    out.write(fetch(read_url(self.c, ds_id, s["id"]))[2])
                desc = subprocess.run(["file", "-b", path], capture_output=True,
                                      text=True).stdout
                h, w, _ = s["metaData"]["shape"]
                if ext == "png":
                    self.assertIn("PNG image data, %d x %d" % (w, h), desc)
                else:
                    self.assertIn("JPEG image data", desc)
                    self.assertIn("baseline", desc)
                    self.assertIn("%dx%d" % (w, h), desc)
                if shutil.which("djpeg") and ext == "jpg":
                    done = subprocess.run(["djpeg", path], capture_output=True)
                    self.assertEqual((done.returncode, done.stderr), (0, b""))

    def test_thumbnail_is_a_smaller_image(self):
        ds = self.dataset_named("mixed-set")
        smp = samples_of(self.c, ds["id"])[3]
        status, headers, body = fetch(read_url(self.c, ds["id"], smp["id"], "thumbnail"))
        self.assertEqual((status, headers["Content-Type"]), (200, "image/jpeg"))
        self.assertTrue(2048 <= len(body) <= 24 * 1024, len(body))
        self.assertTrue(body.startswith(b"\xff\xd8"))

    def test_range_requests(self):
        ds = self.dataset_named("mixed-set")
        smp = samples_of(self.c, ds["id"])[5]
        url = read_url(self.c, ds["id"], smp["id"])
        full = fetch(url)[2]
        total = len(full)
        for header, start, end in (("bytes=0-0", 0, 0), ("bytes=10-99", 10, 99),
                                   ("bytes=100-", 100, total - 1),
                                   ("bytes=-50", total - 50, total - 1),
                                   ("bytes=5-%d" % (total * 2), 5, total - 1)):
            status, headers, body = fetch(url, headers={"Range": header})
            self.assertEqual(status, 206, header)
            self.assertEqual(headers["Content-Range"], "bytes %d-%d/%d" % (start, end, total))
            self.assertEqual(body, full[start:end + 1], header)
            self.assertEqual(int(headers["Content-Length"]), end - start + 1)
        status, headers, body = fetch(url, headers={"Range": "bytes=%d-" % total})
        self.assertEqual(status, 416)
        self.assertEqual(headers["Content-Range"], "bytes */%d" % total)
        self.assertEqual(self.xml_code(body), "InvalidRange")
        status, _, body = fetch(url, headers={"Range": "bytes=0-1,5-6"})
        self.assertEqual((status, body), (200, full))

    def test_head_on_a_get_url_is_403(self):
        ds = self.dataset_named("mixed-set")
        smp = samples_of(self.c, ds["id"])[0]
        status, _, body = fetch(read_url(self.c, ds["id"], smp["id"]), method="HEAD")
        self.assertEqual((status, body), (403, b""))

    def test_storage_stats_and_token_leaks(self):
        ds = self.dataset_named("mixed-set")
        smp = samples_of(self.c, ds["id"])[1]
        url = read_url(self.c, ds["id"], smp["id"])
        self.c.ok("POST", "/_emulator/stats/reset", 200, token=None)
        self.assertNotIn("storage", self.c.stats())
        size = len(fetch(url)[2])
        fetch(url, headers={"Range": "bytes=0-9"})
        status, _, body = fetch(url + "&token=" + TOKEN)
        self.assertEqual((status, self.xml_code(body)), (403, "SignatureDoesNotMatch"))
        status, _, body = fetch(url, headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual((status, self.xml_code(body)), (400, "InvalidArgument"))
        fetch(url, method="HEAD")
        got = self.c.ok("GET", "/_emulator/stats/storage", 200, token=None)
        self.assertEqual({k: got[k] for k in ("requests", "withToken", "withAuthorization",
                                              "head", "ranges")},
                         {"requests": 5, "withToken": 2, "withAuthorization": 1, "head": 1,
                          "ranges": 1})
        self.assertEqual(got["byStatus"], {"200": 1, "206": 1, "403": 2, "400": 1})
        self.assertGreater(got["bytes"], size + 10)     # plus the XML error bodies
        self.assertEqual(self.c.stats()["storage"], got)
        self.c.ok("POST", "/_emulator/stats/reset", 200, token=None)
        self.assertEqual(self.c.ok("GET", "/_emulator/stats/storage", 200,
                                   token=None)["requests"], 0)

    def test_explicit_size_from_metadata(self):
        ds, _ = self.c.new_dataset(0, name="explicit", initial=False)
        sid = self.c.ok("POST", "/v1/datasets/%s/samples" % ds, 201, body={
            "fileName": "a/b.png", "metaData": {"sizeInBytes": 123457, "shape": [1, 2, 3]}})["id"]
        body = fetch(read_url(self.c, ds, sid))[2]
        self.assertEqual(len(body), 123457)
        self.assertTrue(body.startswith(b"\x89PNG"))
        self.assertEqual(samples_of(self.c, ds)[0]["metaData"],
                         {"sizeInBytes": 123457, "shape": [1, 2, 3]})
        self.assertEqual(self.c.ok("GET", "/v1/datasets/%s" % ds, 200)["sizeInBytes"], 123457)
        for bad in ({"sizeInBytes": -1}, {"sizeInBytes": "9"}, {"shape": "1x2"}, 5):
            self.assertEqual(self.c.post("/v1/datasets/%s/samples" % ds,
                                         {"fileName": "bad.png", "metaData": bad}).status, 400)


def struct_u32(data, offset):
    return int.from_bytes(data[offset:offset + 4], "big")


class TestBlobFaults(StorageCase):

    ARGS = ("--blob-sizes", "varied", "--dataset", "fault-set:5")
    ROUTE = "GET /blobs/{datasetId}/{sampleId}"

    def setUp(self):
        super().setUp()
        self.ds = self.c.ok("GET", "/v1/datasets", 200)[0]["id"]
        self.ids = self.c.ok("GET", "/v1/datasets/%s/mappings" % self.ds, 200,
                             query={"field": "_id"})
        self.url = read_url(self.c, self.ds, self.ids[0])
        self.full = fetch(self.url)[2]

    def add(self, **spec):
        return self.c.ok("POST", "/_emulator/faults", 201, body=dict(spec, match=self.ROUTE),
                         token=None)

    def open(self):
        parts = urllib.parse.urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request("GET", parts.path + "?" + parts.query)
        return conn, conn.getresponse()

    def test_truncated_body_under_full_content_length(self):
        self.add(truncate_after_bytes=1000, count=1)
        conn, resp = self.open()
        try:
            self.assertEqual(int(resp.getheader("Content-Length")), len(self.full))
            with self.assertRaises(http.client.IncompleteRead) as ctx:
                resp.read()
            self.assertEqual(ctx.exception.partial, self.full[:1000])
        finally:
            conn.close()
        self.assertEqual(fetch(self.url)[2], self.full)

    def test_reset_mid_body(self):
        self.add(reset_after_bytes=2000, count=1)
        conn, resp = self.open()
        got = b""
        try:
            with self.assertRaises((ConnectionResetError, http.client.IncompleteRead)):
                while True:
                    chunk = resp.read(512)
                    if not chunk:
                        break
                    got += chunk
        finally:
            conn.close()
        self.assertLessEqual(len(got), 2000)
        self.assertEqual(self.full[:len(got)], got)

    def test_slow_body(self):
        self.add(rate_bps=20000, count=1)
        started = time.monotonic()
        status, _, body = fetch(self.url, headers={"Range": "bytes=0-9999"})
        self.assertGreaterEqual(time.monotonic() - started, 0.4)
        self.assertEqual((status, body), (206, self.full[:10000]))

    def test_5xx_and_sample_filter(self):
        self.add(status=503, sample_id=self.ids[1])
        self.assertEqual(fetch(self.url)[0], 200)
        other = read_url(self.c, self.ds, self.ids[1])
        status, headers, body = fetch(other)
        self.assertEqual((status, self.xml_code(body)), (503, "SlowDown"))
        self.assertEqual(headers["Content-Type"], "application/xml")
        self.c.request("DELETE", "/_emulator/faults", token=None)
        self.add(status=500, count=1)
        self.assertEqual(self.xml_code(fetch(self.url)[2]), "InternalError")
        for bad in ({"rate_bps": 0}, {"reset_after_bytes": -1}, {"sample_id": "x"}):
            self.assertEqual(self.c.post("/_emulator/faults", dict(bad, match=self.ROUTE),
                                         token=None).status, 400)


class TestOwnStoragePort(StorageCase):

    ARGS = ("--storage-port", "0", "--storage", "gcs", "--dataset", "port-set:3")

    def test_urls_point_at_the_storage_port(self):
        info = self.c.ok("GET", "/_emulator/info", 200, token=None)
        self.assertEqual(info["storage"], "gcs")
        base = urllib.parse.urlsplit(info["storageBase"])
        self.assertNotEqual(base.port, self.proc.port)
        ds = self.c.ok("GET", "/v1/datasets", 200)[0]["id"]
        sid = self.c.ok("GET", "/v1/datasets/%s/mappings" % ds, 200, query={"field": "_id"})[0]
        url = read_url(self.c, ds, sid)
        self.assertTrue(url.startswith(info["storageBase"] + "/blobs/"), url)
        status, headers, body = fetch(url)
        self.assertEqual((status, headers["Content-Type"]), (200, "image/jpeg"))
        self.assertEqual(len(body), samples_of(self.c, ds)[0]["metaData"]["sizeInBytes"])
        api_on_storage = "%s/v1/datasets?token=%s" % (info["storageBase"], TOKEN)
        status, _, body = fetch(api_on_storage)
        self.assertEqual((status, self.xml_code(body)), (404, "NoSuchKey"))
        stats = self.c.ok("GET", "/_emulator/stats/storage", 200, token=None)
        self.assertEqual((stats["requests"], stats["withToken"]), (2, 1))
        location = self.c.get("/v1/datasets/%s/samples/%s/readurlRedirect" % (ds, sid),
                              query={"type": "full"}).headers["Location"]
        self.assertTrue(location.startswith(info["storageBase"]))


class TestStorageUrl(StorageCase):
    """--storage-url: signed URLs name a TLS front end (bench/wan) that
    forwards to this emulator; the signature holds whatever host serves it."""

    PUBLIC = "https://storage.test:9443"
    ARGS = ("--storage-url", PUBLIC + "/", "--dataset", "url-set:2")

    def test_urls_carry_the_public_base_and_still_verify(self):
        info = self.c.ok("GET", "/_emulator/info", 200, token=None)
        self.assertEqual(info["storageBase"], self.PUBLIC)
        ds = self.dataset_named("url-set")["id"]
        sid = self.c.ok("GET", "/v1/datasets/%s/mappings" % ds, 200, query={"field": "_id"})[0]
        url = read_url(self.c, ds, sid)
        self.assertTrue(url.startswith(self.PUBLIC + "/blobs/%s/%s?" % (ds, sid)), url)
        rows = self.c.ok("GET", "/v1/datasets/%s/tags" % ds, 200)
        tag = rows[0]["id"]
        for row in self.c.ok("GET", "/v1/datasets/%s/tags/%s/export/basic/filenamesAndReadUrls"
                             % (ds, tag), 200):
            self.assertTrue(row["readUrl"].startswith(self.PUBLIC + "/blobs/"), row)
        # what the front end forwards: the same path and query, here
        local = "http://127.0.0.1:%d%s" % (self.proc.port, url[len(self.PUBLIC):])
        status, _, body = fetch(local)
        self.assertEqual(status, 200)
        self.assertEqual(len(body), samples_of(self.c, ds)[0]["metaData"]["sizeInBytes"])

    def test_with_its_own_port_and_bad_values(self):
        proc = EmulatorProcess("--storage-port", "0", "--storage-url", "http://s.test:81")
        try:
            info = Client(proc.port).ok("GET", "/_emulator/info", 200, token=None)
            self.assertEqual(info["storageBase"], "http://s.test:81")
        finally:
            proc.stop()
        for bad in ("storage.test", "ftp://storage.test", "https://storage.test/path"):
            run = subprocess.run([sys.executable, EMULATOR, "--port", "0", "--storage-url", bad],
                                 capture_output=True, timeout=20)
            self.assertNotEqual(run.returncode, 0, bad)
            self.assertIn(b"--storage-url", run.stderr)


class TestApiUrl(StorageCase):
    """--api-url: the readurlRedirect links of the exports name the API's
    public base (a TLS front end, bench/wan), not http:// and the Host the
    emulator was reached by."""

    PUBLIC = "https://api.test:8443"
    ARGS = ("--api-url", PUBLIC + "/", "--dataset", "api-set:2")

    def test_export_links_carry_the_public_base_and_still_redirect(self):
        info = self.c.ok("GET", "/_emulator/info", 200, token=None)
        self.assertEqual(info["apiBase"], self.PUBLIC)
        ds = self.dataset_named("api-set")["id"]
        tag = self.c.ok("GET", "/v1/datasets/%s/tags" % ds, 200)[0]["id"]
        base = "/v1/datasets/%s/tags/%s/export/" % (ds, tag)
        links = self.c.get(base + "basic/filenames",
                           query={"fileNameFormat": "REDIRECTED_READ_URL"}).body.decode().split("\n")
        links += [t["data"]["image"] for t in self.c.ok("GET", base + "LabelStudio/tasks", 200)]
        links += [r["imageUrl"] for r in self.c.ok("GET", base + "LabelBox/datarows", 200)]
        links += [r["row_data"] for r in self.c.ok("GET", base + "LabelBoxV4/datarows", 200)]
        links += [t["data"]["url"] for t in self.c.ok("GET", base + "Sama/tasks", 200)]
        self.assertEqual(len(links), 10)
        for link in links:
            self.assertTrue(link.startswith(self.PUBLIC + "/v1/datasets/%s/samples/" % ds), link)
        # what the front end forwards: the same path and query, here
        local = "http://127.0.0.1:%d%s" % (self.proc.port, links[0][len(self.PUBLIC):])
        status, headers, _ = fetch(local)
        self.assertEqual(status, 302)
        self.assertEqual(fetch(headers["Location"])[0], 200)

    def test_bad_values(self):
        for bad in ("api.test", "ftp://api.test", "https://api.test/v1"):
            run = subprocess.run([sys.executable, EMULATOR, "--port", "0", "--api-url", bad],
                                 capture_output=True, timeout=20)
            self.assertNotEqual(run.returncode, 0, bad)
            self.assertIn(b"--api-url", run.stderr)


class TestUrlExpiry(unittest.TestCase):

    def test_s3_and_gcs_expiry(self):
        procs = [EmulatorProcess("--url-ttl", "1", "--dataset", "exp-set:2"),
                 EmulatorProcess("--url-ttl", "1", "--storage", "gcs", "--dataset", "exp-set:2")]
        try:
            urls = []
            for proc in procs:
                c = Client(proc.port)
                ds = c.ok("GET", "/v1/datasets", 200)[0]["id"]
                sid = c.ok("GET", "/v1/datasets/%s/mappings" % ds, 200,
                           query={"field": "_id"})[0]
                url = read_url(c, ds, sid)
                self.assertEqual(fetch(url)[0], 200)
                urls.append(url)
            time.sleep(2.2)
            status, headers, body = fetch(urls[0])
            self.assertEqual(status, 403)
            self.assertEqual(headers["Content-Type"], "application/xml")
            self.assertIn(b"<Code>AccessDenied</Code>", body)
            self.assertIn(b"Request has expired", body)
            status, headers, body = fetch(urls[1])
            self.assertEqual(status, 400)
            self.assertIn(b"<Code>ExpiredToken</Code>", body)
            self.assertNotIn(b"RequestId", body)
        finally:
            for proc in procs:
                proc.stop()


def sleep_until(when):
    time.sleep(max(0.0, when - time.time()))


def wait_for_fraction(low, high):
    """Sleeps until time.time() is low..high (0 <= low < high <= 1) into a second."""
    while not low <= time.time() % 1 < high:
        time.sleep((low - time.time() % 1) % 1 + 0.002)


class TestUrlLifetime(unittest.TestCase):
    """A URL signed for ttl seconds is good for ttl seconds from its signing, however
    late in a second it was signed (int(time.time()) + ttl gave a 1 s URL anywhere
    from 0 to 1 s), and expired ttl + 1 s after it; an export's publicToken too.

    Timing on a loaded machine: a 'still good' check counts only when its answer
    came back before ttl had passed since the client asked for the URL (so the
    server checked it before then); an attempt that came too late is repeated."""

    TTL = 1

    def test_good_for_ttl_then_expired(self):
        proc = EmulatorProcess("--url-ttl", str(self.TTL), "--dataset", "life-set:2")
        try:
            c = Client(proc.port)
            ds = c.ok("GET", "/v1/datasets", 200)[0]["id"]
            sid = c.ok("GET", "/v1/datasets/%s/mappings" % ds, 200, query={"field": "_id"})[0]
            export = "/v1/datasets/%s/tags/%s/export/LabelBox/datarows" % (ds, c.tags(ds)[0]["id"])

            def sign():
                redirect = c.ok("GET", export, 200, query={"expiresIn": self.TTL})[0]["imageUrl"]
                return read_url(c, ds, sid), redirect[len(c.base):]

            def statuses(url, redirect):
                return fetch(url)[0], Client(proc.port).get(redirect, token=None).status

            # (window in the second when signing starts, wait after it before checking):
            # signed just before a second ticks over and checked just after it; signed
            # in the middle of a second and checked 0.6 s later
            probes = {(0.93, 0.97, 0.1), (0.5, 0.6, 0.6)}
            for _ in range(6):
                for low, high, wait in sorted(probes):
                    wait_for_fraction(low, high)
                    asked = time.time()
                    url, redirect = sign()
                    sleep_until(asked + wait)
                    got = statuses(url, redirect)
                    if time.time() < asked + self.TTL:
                        self.assertEqual(got, (200, 302), "signed %.3f s into a second, "
                                         "checked %.1f s later" % (asked % 1, wait))
                        probes.discard((low, high, wait))
                if not probes:
                    break
            if probes:
                self.skipTest("machine too slow to check within %d s: %s" % (self.TTL, probes))
            url, redirect = sign()
            signed = time.time()
            sleep_until(signed + self.TTL + 1.5)
            status, _, body = fetch(url)
            self.assertEqual(status, 403, body)
            self.assertIn(b"<Code>AccessDenied</Code>", body)
            reply = Client(proc.port).get(redirect, token=None)
            self.assertEqual(reply.status, 401, reply)
            self.assertEqual(reply.json()["code"], "UNAUTHORIZED")
        finally:
            proc.stop()
        self.assertNotIn("Traceback", proc.stderr_text())


class TestSizeMetaSwitch(unittest.TestCase):

    def test_absent_smaller_larger(self):
        for mode in ("absent", "smaller", "larger"):
            proc = EmulatorProcess("--size-meta", mode, "--blob-sizes", "varied",
                                   "--dataset", "meta-set:3")
            try:
                c = Client(proc.port)
                ds = c.ok("GET", "/v1/datasets", 200)[0]["id"]
                smp = samples_of(c, ds)[0]
                body = fetch(read_url(c, ds, smp["id"]))[2]
                meta = smp["metaData"]
                if mode == "absent":
                    self.assertNotIn("sizeInBytes", meta)
                    self.assertIn("shape", meta)
                elif mode == "smaller":
                    self.assertLess(meta["sizeInBytes"], len(body))
                else:
                    self.assertGreater(meta["sizeInBytes"], len(body))
            finally:
                proc.stop()


class TestBasicExports(EmulatorCase):

    def setUp(self):
        super().setUp()
        names = ["dir/%d.jpg" % i for i in range(9)]
        self.ds, initial = self.c.new_dataset(names=names)
        self.tag = self.c.new_tag(self.ds, "basic", initial, [0, 2, 3, 7, 8], 9)
        self.path = "/v1/datasets/%s/tags/%s/export/basic/filenames" % (self.ds, self.tag)

    def text(self, **query):
        reply = self.c.get(self.path, query=query)
        self.assertEqual(reply.status, 200, reply)
        self.assertTrue(reply.headers["Content-Type"].startswith("text/plain"))
        return reply.body.decode("utf-8")

    def test_three_formats_in_the_same_order(self):
        names = self.text(fileNameFormat="NAME").split("\n")
        self.assertEqual(names, ["dir/%d.jpg" % i for i in (0, 2, 3, 7, 8)])
        self.assertEqual(self.text().split("\n"), names)
        full = self.text(fileNameFormat="DATASOURCE_FULL").split("\n")
        self.assertEqual(len(full), 5)
        for line, name in zip(full, names):
            self.assertTrue(line.startswith("s3://") and line.endswith("/" + name), line)
        urls = self.text(fileNameFormat="REDIRECTED_READ_URL").split("\n")
        ids = self.c.ok("GET", "/v1/datasets/%s/mappings" % self.ds, 200,
                        query={"field": "_id"})
        for url, idx in zip(urls, (0, 2, 3, 7, 8)):
            self.assertIn("/samples/%s/readurlRedirect?" % ids[idx], url)
            self.assertNotIn("token=" + TOKEN, url)
            reply = Client(SHARED.port).get(url[len(self.c.base):], token=None)
            self.assertEqual(reply.status, 302)
            self.assertEqual(fetch(reply.headers["Location"])[0], 200)

    def test_paging_and_errors(self):
        page = self.text(fileNameFormat="NAME", pageSize=2, pageOffset=2)
        self.assertEqual(page, "dir/3.jpg\ndir/7.jpg")
        self.assertEqual(self.text(fileNameFormat="REDIRECTED_READ_URL", pageSize=2,
                                   pageOffset=2).count("\n"), 1)
        self.assertEqual(self.text(pageSize=5, pageOffset=5), "")
        for bad in ({"fileNameFormat": "URL"}, {"pageSize": 0}, {"expiresIn": "soon"}):
            self.assertError(self.c.get(self.path, query=bad), 400, "MALFORMED_REQUEST")
        self.assertError(self.c.get(self.path, token=None), 401, "UNAUTHORIZED")

    def test_filenames_and_read_urls(self):
        path = "/v1/datasets/%s/tags/%s/export/basic/filenamesAndReadUrls" % (self.ds, self.tag)
        rows = self.c.ok("GET", path, 200, query={"pageSize": 3})
        self.assertEqual([r["fileName"] for r in rows], ["dir/0.jpg", "dir/2.jpg", "dir/3.jpg"])
        status, headers, _ = fetch(rows[1]["readUrl"])
        self.assertEqual((status, headers["Content-Type"]), (200, "image/jpeg"))


class TestTagEndpointDetails(EmulatorCase):

    def setUp(self):
        super().setUp()
        self.ds, self.initial = self.c.new_dataset(8)
        self.a = self.c.new_tag(self.ds, "tag-a", self.initial, [0, 1, 2], 8)
        self.b = self.c.new_tag(self.ds, "tag-b", self.initial, [2, 3], 8)

    def test_arithmetics_records_creator_and_operation(self):
        got = self.c.ok("POST", "/v1/datasets/%s/tags/arithmetics" % self.ds, 200, body={
            "tagId1": self.a, "tagId2": self.b, "operation": "DIFFERENCE",
            "newTagName": "a-minus-b", "creator": "USER_PIP"})
        tag = self.c.tag(self.ds, got["id"])
        self.assertEqual(indices_of(tag["bitMaskData"]), [0, 1])
        self.assertEqual(len(tag["changes"]), 1)
        change = tag["changes"][0]
        self.assertEqual(change["creator"], "USER_PIP")
        self.assertEqual(change["changes"], {"arithmetics": {
            "operation": "DIFFERENCE", "tag1": "tag-a", "tag2": "tag-b"}})
        self.assertEqual(self.c.ok("POST", "/v1/datasets/%s/tags/arithmetics" % self.ds, 200,
                                   body={"tagId1": self.a, "tagId2": self.b,
                                         "operation": "UNION"}), {"bitMaskData": "0xf"})

    def test_bitmask_route_validates_the_same_body(self):
        path = "/v1/datasets/%s/tags/arithmetics/bitmask" % self.ds
        for extra in ({"newTagName": ".hidden"}, {"creator": "ROBOT"}, {"runId": "r"}):
            body = dict({"tagId1": self.a, "tagId2": self.b, "operation": "UNION"}, **extra)
            self.assertError(self.c.post(path, body), 400, "MALFORMED_REQUEST")
        got = self.c.ok("POST", path, 200, body={"tagId1": self.a, "tagId2": self.b,
                                                 "operation": "INTERSECTION",
                                                 "newTagName": "ignored", "creator": "USER_PIP"})
        self.assertEqual(got, {"bitMaskData": "0x4"})
        self.assertNotIn("ignored", [t["name"] for t in self.c.tags(self.ds)])

    def test_upsize_records_a_change(self):
        self.c.ok("POST", "/_emulator/datasets/%s/samples" % self.ds, 201,
                  body={"fileNames": ["late/1.png", "late/2.png"]}, token=None)
        tid = self.c.ok("POST", "/v1/datasets/%s/tags/upsize" % self.ds, 201, body={
            "upsizeTagName": "late", "upsizeTagCreator": "USER_WORKER"})["id"]
        change = self.c.tag(self.ds, tid)["changes"][0]
        self.assertEqual(change["creator"], "USER_WORKER")
        self.assertEqual(change["changes"], {"upsize": {"from": 8, "to": 10}})

    def test_export_urls_expire_only_with_expires_in(self):
        base = "/v1/datasets/%s/tags/%s/export/" % (self.ds, self.a)
        rows = self.c.ok("GET", base + "LabelBoxDataRows", 200)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(rows[0]["imageUrl"]).query))
        self.assertTrue(query["publicToken"].startswith("0."), query)
        rows = self.c.ok("GET", base + "LabelBox/datarows", 200, query={"expiresIn": 1})
        url = rows[0]["imageUrl"][len(self.c.base):]
        self.assertEqual(Client(SHARED.port).get(url, token=None).status, 302)
        time.sleep(2.1)
        self.assertError(Client(SHARED.port).get(url, token=None), 401, "UNAUTHORIZED")

    def test_access_control_parameter(self):
        base = "/v1/datasets/%s/tags/%s/export/" % (self.ds, self.a)
        for path in ("LabelStudioTasks", "LabelStudio/tasks", "LabelBoxDataRows",
                     "LabelBox/datarows"):
            self.assertEqual(len(self.c.ok("GET", base + path, 200,
                                           query={"accessControl": "default"})), 3)
            self.assertError(self.c.get(base + path, query={"accessControl": ""}),
                             400, "MALFORMED_REQUEST")

    def test_create_sample_answers_201_and_extends_the_mapping(self):
        sid = self.c.ok("POST", "/v1/datasets/%s/samples" % self.ds, 201,
                        body={"fileName": "posted/x.jpg", "thumbName": "t/x.jpg"})["id"]
        self.assertEqual(self.c.names(self.ds)[-1], "posted/x.jpg")
        self.assertEqual(self.c.ok("GET", "/v1/datasets/%s/mappings" % self.ds, 200,
                                   query={"field": "_id"})[-1], sid)
        for bad in ({"fileName": "y.jpg", "thumbName": 3}, {"fileName": "y.jpg", "exif": []}):
            self.assertError(self.c.post("/v1/datasets/%s/samples" % self.ds, bad),
                             400, "MALFORMED_REQUEST")
        self.assertError(self.c.post("/v1/datasets/%s/samples" % ("a" * 24),
                                     {"fileName": "y.jpg"}), 404, "DATASET_UNKNOWN")

    def test_fixed_mode_serves_a_jpeg_for_jpg_names(self):
        ds, _ = self.c.new_dataset(names=["a.jpg", "b.png"])
        ids = self.c.ok("GET", "/v1/datasets/%s/mappings" % ds, 200, query={"field": "_id"})
        listing = samples_of(self.c, ds)
        for sid, smp, magic in zip(ids, listing, (b"\xff\xd8\xff", b"\x89PNG")):
            body = fetch(read_url(self.c, ds, sid))[2]
            self.assertTrue(body.startswith(magic))
            self.assertEqual(smp["metaData"]["sizeInBytes"], len(body))


class TestPagedExportsSwitch(StorageCase):

    ARGS = ("--no-paged-exports", "--dataset", "old-server:4")

    def test_new_paths_are_404_old_ones_work(self):
        ds = self.c.ok("GET", "/v1/datasets", 200)[0]["id"]
        tag = self.c.tags(ds)[0]["id"]
        base = "/v1/datasets/%s/tags/%s/export/" % (ds, tag)
        for path in ("LabelStudio/tasks", "LabelBox/datarows"):
            reply = self.c.get(base + path)
            self.assertEqual(reply.status, 404)
            self.assertEqual(reply.json()["code"], "NOT_FOUND")
        self.assertEqual(len(self.c.ok("GET", base + "LabelStudioTasks", 200)), 4)
        self.assertEqual(len(self.c.ok("GET", base + "LabelBoxDataRows", 200)), 4)
        self.assertFalse(self.c.ok("GET", "/_emulator/info", 200, token=None)["pagedExports"])


class TestNewOptionsInHelp(unittest.TestCase):

    def test_help_lists_new_options_and_routes(self):
        out = subprocess.run([sys.executable, EMULATOR, "--help"], capture_output=True,
                             text=True, check=True).stdout
        for word in ("--url-ttl", "--storage", "--storage-port", "--storage-host", "--storage-url",
                     "--api-url",
                     "--blob-sizes", "--size-meta", "--no-paged-exports", "export/basic/filenames",
                     "filenamesAndReadUrls", "/_emulator/stats/storage", "/_emulator/info",
                     "reset_after_bytes", "truncate_after_bytes", "rate_bps", "storage_port="):
            self.assertIn(word, out)
        bad = subprocess.run([sys.executable, EMULATOR, "--port", "0", "--url-ttl", "0"],
                             capture_output=True, timeout=20)
        self.assertNotEqual(bad.returncode, 0)

    def test_help_names_every_api_route_and_prints_no_escape(self):
        out = subprocess.run([sys.executable, EMULATOR, "--help"], capture_output=True,
                             text=True, check=True).stdout
        sys.path.insert(0, os.path.dirname(EMULATOR))
        try:
            from lightly_emu.emulator import Emulator  # pylint: disable=import-outside-toplevel
        finally:
            sys.path.pop(0)
        served = sorted((r[0], r[1]) for r in Emulator(None, "").router.routes
                        if r[1].startswith("/v1/"))
        self.assertGreaterEqual(len(served), 25)
        section = out.split("\nAPI routes", 1)[1].split("\n\n", 1)[0]
        listed = sorted(re.findall(r"^  ([A-Z]+) +(/v1/\S+)", section, re.M))
        self.assertEqual(listed, served)
        # an escape in the text printed as a line break, or as itself
        self.assertNotIn("'\n'", out)
        self.assertNotIn("\\n", out)
        self.assertEqual([l for l in out.splitlines() if len(l) > 100], [])


def main():
    loader = unittest.defaultTestLoader
    module = sys.modules[__name__]
    names = sys.argv[1:]
    suite = loader.loadTestsFromNames(names, module) if names else \
        loader.loadTestsFromModule(module)
    if not names:
        # the answers against the client's models, with their own emulator
        import test_client_models  # pylint: disable=import-outside-toplevel
        suite.addTests(loader.loadTestsFromModule(test_client_models))
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    sys.stdout.flush()
    print("emulator: %d passed, %d failed" % (max(passed, 0), failed), flush=True)
    return 0 if failed == 0 else 3


if __name__ == "__main__":
    sys.exit(main())
