"""Route handlers of the test-support API under /_emulator/ (not Lightly's):
health, info, request stats, storage stats, faults and raw sample names.

SupportRoutes is a mixin of emulator.Emulator (self.stats, self.faults).
"""

from .common import malformed
from .fields import need_object, utf8_ok
from .wire import Response, json_response


class SupportRoutes:
    """/_emulator/..."""

    def h_info(self, req):
        return json_response(200, {
            "storage": self.storage, "storageBase": self.storage_base,
            "apiBase": self.api_base,
            "urlTtl": self.url_ttl, "blobSizes": self.store.content.mode,
            "sizeMeta": self.store.size_meta, "pagedExports": self.paged_exports})

    def h_stats_storage(self, req):
        return json_response(200, self.stats.storage_snapshot())

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
