"""Route handlers of the exports: LabelStudio and LabelBox (old unpaged and new
paged paths), LabelBoxV4 and Sama (paged only), the basic filenames /
filenamesAndReadUrls exports and the zip of a tag's images, as the 1.5.26
client's models define their answers.

ExportRoutes is a mixin of emulator.Emulator; the URLs it hands out come
from routes_storage.StorageRoutes (redirect_url, blob_url).
"""

import io
import json
import zipfile

from .common import DATASOURCE_BUCKET, ApiError, FILE_NAME_FORMATS, RE_ACCESS_CONTROL, malformed
from .fields import page_slice, set_bits
from .wire import Response, json_response

FILE_OUTPUT_FORMATS = ("JSON", "PLAIN")
# the client's download_zip_of_samples_by_tag_id knows a 413: a tag whose
# images add up to more than this is refused, as a server would
ZIP_MAX_BYTES = 1 << 31


def _bool_query(req, key):
    raw = req.query.get(key, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise malformed("query '%s' must be a boolean" % key)
    return raw in ("true", "1")


def _enum_query(req, key, allowed, default):
    val = req.query.get(key, default)
    if val not in allowed:
        raise malformed("query '%s' must be one of %s" % (key, ", ".join(allowed)))
    return val


class ExportRoutes:
    """/v1/datasets/{datasetId}/tags/{tagId}/export/..."""

    def _tag_indices(self, req):
        ds, mask = self.store.tag_mask(req.params["datasetId"], req.params["tagId"])
        return ds, set_bits(mask)

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
        """(dataset, [(index, sample)], expiresIn) of an export's page; the
        label tools' exports take every query the client sends."""
        expires_in, _ = self._export_query(req)
        preview = _bool_query(req, "previewExample")
        _bool_query(req, "includeMetaData")
        _enum_query(req, "fileNameFormat", FILE_NAME_FORMATS, "NAME")
        _enum_query(req, "format", FILE_OUTPUT_FORMATS, "JSON")
        ds, indices = self._tag_indices(req)
        if paged:
            indices = page_slice(indices, req.query)
        if preview:
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

    def _labelbox_v4(self, req):
        ds, rows, expires_in = self._export_items(req, True)
        return json_response(200, [
            {"row_data": self.redirect_url(req.host, ds["id"], smp["id"], expires_in),
             "global_key": smp["fileName"], "media_type": "IMAGE"}
            for _, smp in rows])

    def _sama(self, req):
        ds, rows, expires_in = self._export_items(req, True)
        tasks = []
        for idx, smp in rows:
            url = self.redirect_url(req.host, ds["id"], smp["id"], expires_in)
            # SamaTaskData.lightlyMetaInfo is a string in the model (the
            # sample as JSON text), unlike LabelStudio's object
            tasks.append({"priority": 0, "reserve_for": 0, "data": {
                "id": idx, "url": url, "image": url, "lightlyFileName": smp["fileName"],
                "lightlyMetaInfo": json.dumps(smp, separators=(",", ":"))}})
        return json_response(200, tasks)

    def _basic_page(self, req):
        """(dataset, [(index, name, id)]) of a basic export page, in index order."""
        preview = _bool_query(req, "previewExample")
        ds, mask = self.store.tag_mask(req.params["datasetId"], req.params["tagId"])
        names, ids, _ = self.store.mapping_lists(ds["id"])
        indices = page_slice(set_bits(mask), req.query)
        if preview:
            indices = indices[:1]
        return ds, [(i, names[i], ids[i]) for i in indices]

    def h_export_basic_filenames(self, req):
        fmt = _enum_query(req, "fileNameFormat", FILE_NAME_FORMATS, "NAME")
        out = _enum_query(req, "format", FILE_OUTPUT_FORMATS, "PLAIN")
        _bool_query(req, "includeMetaData")
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
        if out == "JSON":
            return json_response(200, lines)
        return Response(200, "\n".join(lines).encode("utf-8"),
                        content_type="text/plain; charset=utf-8")

    def h_export_basic_read_urls(self, req):
        self._export_query(req)
        _enum_query(req, "format", FILE_OUTPUT_FORMATS, "JSON")
        ds, rows = self._basic_page(req)
        return json_response(200, [
            {"fileName": name, "readUrl": self.blob_url(req.host, ds["id"], sid, "full")}
            for _, name, sid in rows])

    def h_export_labelstudio_old(self, req):
        return self._labelstudio(req, False)

    def h_export_labelstudio_new(self, req):
        return self._labelstudio(req, True)

    def h_export_labelbox_old(self, req):
        return self._labelbox(req, False)

    def h_export_labelbox_new(self, req):
        return self._labelbox(req, True)

    def h_export_labelbox_v4(self, req):
        return self._labelbox_v4(req)

    def h_export_sama(self, req):
        return self._sama(req)

    def h_export_zip(self, req):
        """The tag's full images in a zip, each under its file name, stored
        (images do not compress), in index order."""
        ds, indices = self._tag_indices(req)
        with self.store.lock:
            rows = self.store.sample_rows(ds, indices) if indices else []
        buf = io.BytesIO()
        total = 0
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            for _, smp in rows:
                name, size = self.store.sample_content(ds["id"], smp["id"], "full")
                data = self.store.content.body_etag(smp["id"], name, size, "full")[0]
                total += len(data)
                if total > ZIP_MAX_BYTES:
                    raise ApiError(413, "PAYLOAD_TOO_LARGE",
                                   "the tag's images are too large for a zip")
                info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
                zf.writestr(info, bytes(data))
        return Response(200, buf.getvalue(), content_type="application/zip")
