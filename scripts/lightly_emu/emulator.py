"""The Emulator: the route table, auth and path-id checks, and the handler
mixins of each API area (routes_*.py) put together over one Store.

Handler (server.py) calls emulator.handle(); handlers answer a Response or
raise ApiError.
"""

import hmac

from .common import DEFAULT_EXPIRES_IN_S, RE_OBJECT_ID, ApiError, malformed
from .faults import Faults
from .routes_datasets import DatasetRoutes
from .routes_exports import ExportRoutes
from .routes_storage import StorageRoutes
from .routes_support import SupportRoutes
from .routes_tags import TagRoutes
from .stats import Stats
from .wire import AUTH_NONE, AUTH_PUBLIC, AUTH_TOKEN, BLOB_ROUTE, Router


class Emulator(DatasetRoutes, TagRoutes, ExportRoutes, StorageRoutes, SupportRoutes):
    """Route handlers; they turn a Request into a Response or raise ApiError."""

    def __init__(self, store, token, verbose=False, url_ttl=DEFAULT_EXPIRES_IN_S,
                 storage="s3", storage_base=None, paged_exports=True, api_base=None):
        self.store = store
        self.token = token
        self.verbose = verbose
        self.url_ttl = url_ttl
        self.storage = storage
        self.storage_base = storage_base    # "http://host:port" of a storage port, or None
        self.api_base = api_base            # public "https://host" of the API, or None
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
            # paged from the start: a server without paging has neither
            add("GET", "/v1/datasets/%s/tags/%s/export/LabelBoxV4/datarows" % (ds, tag),
                self.h_export_labelbox_v4)
            add("GET", "/v1/datasets/%s/tags/%s/export/Sama/tasks" % (ds, tag),
                self.h_export_sama)
        add("GET", "/v1/datasets/%s/tags/%s/export/basic/filenames" % (ds, tag),
            self.h_export_basic_filenames)
        add("GET", "/v1/datasets/%s/tags/%s/export/basic/filenamesAndReadUrls" % (ds, tag),
            self.h_export_basic_read_urls)
        add("GET", "/v1/datasets/%s/tags/%s/export/zip" % (ds, tag), self.h_export_zip)
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
