"""Storage: signed blob URLs and public tokens, readurl/readurlRedirect, and
/blobs/ answered like S3 or GCS (signature and expiry checks, XML errors,
Range and 416, 403 to HEAD).  Image bytes come from bodies.Content.
StorageRoutes is a mixin of emulator.Emulator.
"""

import hashlib
import hmac
import math
import re
import time
from urllib.parse import quote

from .common import IMAGE_TYPES, ApiError, malformed, random_hex, to_json_bytes
from .wire import Response, json_response


def expiry(ttl):
    """The expiry (whole seconds since the epoch) of a URL or publicToken signed now
    for ttl seconds, rounded up: it is good for at least ttl seconds after signing
    (int(time.time()) + ttl gave a 1 s URL anywhere from 0 to 1 s)."""
    return math.ceil(time.time()) + ttl


def parse_range(header, total):
    """(start, end) of a single 'bytes=' range, 'unsatisfiable', or None to serve all.

    A missing, malformed or multi-range header is ignored (the whole object,
    200), as S3 does with ranges it does not support.
    """
    if header is None:
        return None
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    if m.group(1) == "":
        n = int(m.group(2))
        if n == 0:
            return "unsatisfiable"
        return max(0, total - n), total - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else None
    if end is not None and end < start:
        return None
    if start >= total:
        return "unsatisfiable"
    end = total - 1 if end is None else end
    return start, min(end, total - 1)


class StorageRoutes:
    """Signing, readurl, readurlRedirect and /blobs/{datasetId}/{sampleId}."""

    def sign(self, *parts):
        msg = "/".join(str(p) for p in parts).encode()
        return hmac.new(self.store.secret, msg, hashlib.sha256).hexdigest()[:32]

    def public_token(self, ds_id, sample_id, expires_in):
        """expires_in None: a token that never expires (its expiry field is 0)."""
        exp = 0 if expires_in is None else expiry(expires_in)
        return "%d.%s" % (exp, self.sign("public", ds_id, sample_id, exp))

    def check_public_token(self, req):
        token = req.query.get("publicToken")
        if token is None:
            raise ApiError(401, "UNAUTHORIZED", "missing or invalid API token")
        exp, _, sig = token.partition(".")
        good = exp.isdigit() and hmac.compare_digest(
            sig, self.sign("public", req.params["datasetId"], req.params["sampleId"], exp))
        if not good:
            raise ApiError(401, "UNAUTHORIZED", "invalid publicToken")
        if int(exp) != 0 and int(exp) < time.time():
            raise ApiError(401, "UNAUTHORIZED", "publicToken expired")

    def blob_url(self, host, ds_id, sample_id, img_type, expires_in=None):
        exp = expiry(self.url_ttl if expires_in is None else expires_in)
        sig = self.sign("blob", ds_id, sample_id, img_type, exp)
        base = self.storage_base or "http://%s" % host
        return "%s/blobs/%s/%s?type=%s&exp=%d&sig=%s" % (
            base, ds_id, sample_id, img_type, exp, sig)

    def redirect_url(self, host, ds_id, sample_id, expires_in):
        base = self.api_base or "http://%s" % host
        return ("%s/v1/datasets/%s/samples/%s/readurlRedirect?type=full&publicToken=%s"
                % (base, ds_id, sample_id, quote(self.public_token(ds_id, sample_id, expires_in))))

    def _img_type(self, req):
        img_type = req.query.get("type", "full")
        if img_type not in IMAGE_TYPES:
            raise malformed("query 'type' must be one of %s" % ", ".join(IMAGE_TYPES))
        return img_type

    def h_readurl(self, req):
        ds_id, sample_id = req.params["datasetId"], req.params["sampleId"]
        img_type = self._img_type(req)
        self.store.sample_index_of(ds_id, sample_id)
        return json_response(200, self.blob_url(req.host, ds_id, sample_id, img_type))

    def h_readurl_redirect(self, req):
        ds_id, sample_id = req.params["datasetId"], req.params["sampleId"]
        img_type = self._img_type(req)
        self.store.sample_index_of(ds_id, sample_id)
        url = self.blob_url(req.host, ds_id, sample_id, img_type)
        return Response(302, to_json_bytes(url), headers=[("Location", url)])

    def storage_error(self, status, code, message, extra=()):
        """An S3/GCS-style XML error; GCS leaves out RequestId and HostId."""
        parts = ["<Code>%s</Code><Message>%s</Message>" % (code, message)]
        parts.extend("<%s>%s</%s>" % (k, v, k) for k, v in extra)
        if self.storage == "s3":
            parts.append("<RequestId>%s</RequestId><HostId>%s</HostId>"
                         % (random_hex(8).upper(), random_hex(24)))
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>%s</Error>"
                % "".join(parts)).encode()
        return Response(status, body, content_type="application/xml")

    def storage_expired(self, exp):
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(exp)))
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.storage == "gcs":
            return self.storage_error(400, "ExpiredToken", "The provided token has expired.",
                                      [("Details", "Request signature expired at: %s" % when)])
        return self.storage_error(403, "AccessDenied", "Request has expired",
                                  [("Expires", when), ("ServerTime", now)])

    def h_blob(self, req):
        ds_id, sample_id = req.params["datasetId"], req.params["sampleId"]
        if req.method == "HEAD":    # the URL is signed for GET only, as S3 and GCS sign them
            return Response(403, b"", content_type="application/xml")
        img_type, exp, sig = (req.query.get(k, "") for k in ("type", "exp", "sig"))
        if not exp.isdigit() or not hmac.compare_digest(
                sig, self.sign("blob", ds_id, sample_id, img_type, exp)):
            return self.storage_error(
                403, "SignatureDoesNotMatch", "The request signature we calculated does not "
                "match the signature you provided.")
        unsigned = sorted(set(req.query) - {"type", "exp", "sig"})
        if unsigned:
            return self.storage_error(
                403, "SignatureDoesNotMatch", "The request signature we calculated does not "
                "match the signature you provided (unsigned query parameter %s)."
                % ", ".join(unsigned))
        if req.headers.get("Authorization") is not None:
            return self.storage_error(
                400, "InvalidArgument", "Only one auth mechanism allowed; only the "
                "signed query string or the Authorization header should be specified")
        if int(exp) < time.time():
            return self.storage_expired(exp)
        try:
            name, size = self.store.sample_content(ds_id, sample_id, img_type)
        except ApiError:
            return self.storage_error(404, "NoSuchKey", "The specified key does not exist.")
        if img_type == "meta":
            data = to_json_bytes({"fileName": name, "sizeInBytes": self.store.content.size(
                name, None), "sampleId": sample_id})
            ctype = "application/json"
            etag = '"%s"' % hashlib.md5(data).hexdigest()
        else:
            data, ctype, etag = self.store.content.body_etag(sample_id, name, size, img_type)
        total = len(data)
        headers = [("Accept-Ranges", "bytes"),
                   ("ETag", etag),
                   ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")]
        rng = parse_range(req.headers.get("Range"), total)
        if rng is None:
            return Response(200, data, content_type=ctype, headers=headers)
        if rng == "unsatisfiable":
            resp = self.storage_error(416, "InvalidRange",
                                      "The requested range is not satisfiable",
                                      [("RangeRequested", req.headers.get("Range")),
                                       ("ActualObjectSize", total)])
            resp.headers.append(("Content-Range", "bytes */%d" % total))
            return resp
        start, end = rng
        headers.append(("Content-Range", "bytes %d-%d/%d" % (start, end, total)))
        # a view, not a copy: storage answers a range at the cost of the
        # whole (a copy of each range made ranged readers pay twice)
        return Response(206, memoryview(data)[start:end + 1], content_type=ctype,
                        headers=headers)
