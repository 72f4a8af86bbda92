"""Route handlers of datasets, samples and mappings (and the pip versions).

DatasetRoutes is a mixin of emulator.Emulator; it turns requests into
Store calls and JSON answers.
"""

from .common import (DATASET_TYPES, IMAGE_TYPES, PIP_LATEST, PIP_MINIMUM, RE_DATASET_NAME,
                     SAMPLE_RESERVED_KEYS, malformed)
from .fields import (check_file_name, check_sample_fields, field_enum, field_str, need_object,
                     page_params, page_slice)
from .wire import Response, json_response


class DatasetRoutes:
    """/v1/versions/pip/*, /v1/datasets, .../samples, .../mappings."""

    def h_pip_minimum(self, req):
        return json_response(200, PIP_MINIMUM)

    def h_pip_latest(self, req):
        return json_response(200, PIP_LATEST)

    def h_list_datasets(self, req):
        return json_response(200, page_slice(self.store.list_datasets(), req.query))

    def h_create_dataset(self, req):
        body = need_object(req.json())
        name = field_str(body, "name", True)
        if not RE_DATASET_NAME.match(name):
            raise malformed("field 'name' is not a valid dataset name")
        ds_type = field_enum(body, "type", DATASET_TYPES, False) or "Images"
        img_type = field_enum(body, "imgType", IMAGE_TYPES, False) or "full"
        return json_response(201, {"id": self.store.create_dataset(name, ds_type, img_type)})

    def h_get_dataset(self, req):
        return json_response(200, self.store.get_dataset(req.params["datasetId"]))

    def h_list_samples(self, req):
        return Response(200, self.store.list_samples_body(req.params["datasetId"], req.query))

    def h_create_sample(self, req):
        self.store.get_dataset(req.params["datasetId"])
        body = need_object(req.json())
        if "fileName" not in body:
            raise malformed("missing required field 'fileName'")
        check_file_name(body["fileName"])
        check_sample_fields(body)
        extra = {k: v for k, v in body.items() if k not in SAMPLE_RESERVED_KEYS}
        ids = self.store.add_samples(req.params["datasetId"], [body["fileName"]], [extra])
        return json_response(201, {"id": ids[0]})

    def h_mappings(self, req):
        field = req.query.get("field")
        if field not in ("fileName", "_id"):
            raise malformed("query 'field' must be 'fileName' or '_id'")
        names, ids, count = self.store.mapping_lists(req.params["datasetId"])
        seq = names if field == "fileName" else ids
        offset, size = page_params(req.query)
        end = count if size is None else min(count, offset + size)
        return json_response(200, seq[offset:end] if offset < end else [])
