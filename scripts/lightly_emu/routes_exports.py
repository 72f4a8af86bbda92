"""Route handlers of the exports: LabelStudio and LabelBox (old unpaged and new
paged paths) and the basic filenames / filenamesAndReadUrls exports.

ExportRoutes is a mixin of emulator.Emulator; the URLs it hands out come
from routes_storage.StorageRoutes (redirect_url, blob_url).
"""

from .common import DATASOURCE_BUCKET, FILE_NAME_FORMATS, RE_ACCESS_CONTROL, malformed
from .fields import page_slice, set_bits
from .wire import Response, json_response


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
        expires_in, _ = self._export_query(req)
        preview = req.query.get("previewExample", "false").lower()
        if preview not in ("true", "false", "1", "0"):
            raise malformed("query 'previewExample' must be a boolean")
        ds, indices = self._tag_indices(req)
        if paged:
            indices = page_slice(indices, req.query)
        if preview in ("true", "1"):
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

    def _basic_page(self, req):
        """(dataset, [(index, name, id)]) of a basic export page, in index order."""
        ds, mask = self.store.tag_mask(req.params["datasetId"], req.params["tagId"])
        names, ids, _ = self.store.mapping_lists(ds["id"])
        indices = page_slice(set_bits(mask), req.query)
        return ds, [(i, names[i], ids[i]) for i in indices]

    def h_export_basic_filenames(self, req):
        fmt = req.query.get("fileNameFormat", "NAME")
        if fmt not in FILE_NAME_FORMATS:
            raise malformed("query 'fileNameFormat' must be one of %s"
                            % ", ".join(FILE_NAME_FORMATS))
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
        return Response(200, "\n".join(lines).encode("utf-8"),
                        content_type="text/plain; charset=utf-8")

    def h_export_basic_read_urls(self, req):
        self._export_query(req)
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
