"""Route handlers of the twelve tag endpoints and a tag's filenames.

TagRoutes is a mixin of emulator.Emulator; the tag rules themselves live in
store_tags.TagStore.
"""

import itertools

from .fields import bit_selector
from .wire import Response, json_response


class TagRoutes:
    """/v1/datasets/{datasetId}/tags..."""

    def h_list_tags(self, req):
        return json_response(200, self.store.list_tags(req.params["datasetId"]))

    def h_get_tag(self, req):
        return json_response(200, self.store.get_tag(req.params["datasetId"],
                                                     req.params["tagId"]))

    def _body_after_dataset(self, req):
        self.store.get_dataset(req.params["datasetId"])
        return req.json()

    def h_create_tag(self, req):
        body = self._body_after_dataset(req)
        return json_response(201, {"id": self.store.create_tag(req.params["datasetId"], body)})

    def h_create_initial_tag(self, req):
        body = self._body_after_dataset(req)
        return json_response(201, {"id": self.store.create_initial_tag(
            req.params["datasetId"], body)})

    def h_update_tag(self, req):
        self.store.get_tag(req.params["datasetId"], req.params["tagId"])
        self.store.update_tag(req.params["datasetId"], req.params["tagId"], req.json())
        return Response(204)

    def h_delete_tag(self, req):
        self.store.delete_tag(req.params["datasetId"], req.params["tagId"])
        return Response(204)

    def h_arithmetics(self, req):
        body = self._body_after_dataset(req)
        return json_response(200, self.store.arithmetics(req.params["datasetId"], body, True))

    def h_arithmetics_bitmask(self, req):
        body = self._body_after_dataset(req)
        return json_response(200, self.store.arithmetics(req.params["datasetId"], body, False))

    def h_upsize(self, req):
        body = self._body_after_dataset(req)
        return json_response(201, {"id": self.store.upsize(req.params["datasetId"], body)})

    def h_filenames(self, req):
        ds, mask = self.store.tag_mask(req.params["datasetId"], req.params["tagId"])
        names, _, _ = self.store.mapping_lists(ds["id"])
        return json_response(200, list(itertools.compress(names, bit_selector(mask))))
