"""Request, Response and Router: what route handlers take, give and are found by.

Also the JSON and Lightly-error answers and the auth kinds a route declares.
"""

import json
from urllib.parse import unquote

from .common import malformed, random_hex, to_json_bytes


class Request:
    def __init__(self, method, path, query, headers, body, params, host):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.raw_body = body
        self.params = params
        self.host = host

    def json(self):
        if not self.raw_body:
            raise malformed("request body is empty")
        try:
            text = self.raw_body.decode("utf-8")
            return json.loads(text, parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise malformed("request body is not valid JSON: %s" % exc) from None


def _reject_constant(name):
    raise ValueError("%s is not JSON" % name)


class Response:
    def __init__(self, status, body=b"", content_type="application/json", headers=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or []


def json_response(status, obj):
    return Response(status, to_json_bytes(obj))


def error_response(status, code, message):
    return json_response(status, {"code": code, "error": message, "requestId": random_hex(12)})


BLOB_ROUTE = "/blobs/{datasetId}/{sampleId}"
AUTH_TOKEN = "token"
AUTH_NONE = "none"
AUTH_PUBLIC = "public"


class Router:
    def __init__(self):
        self.routes = []

    def add(self, method, template, handler, auth=AUTH_TOKEN):
        parts = template.strip("/").split("/")
        self.routes.append((method, template, parts, handler, auth))

    def match(self, method, path):
        """(template, handler, auth, params) of the most literal match, or None."""
        parts = path.strip("/").split("/") if path != "/" else [""]
        if path.endswith("/") and path != "/":
            return None
        best = None
        for r_method, template, r_parts, handler, auth in self.routes:
            if r_method != method or len(r_parts) != len(parts):
                continue
            params = {}
            literals = 0
            for want, got in zip(r_parts, parts):
                if want.startswith("{"):
                    params[want[1:-1]] = unquote(got)
                elif want == got:
                    literals += 1
                else:
                    break
            else:
                if best is None or literals > best[0]:
                    best = (literals, template, handler, auth, params)
        return None if best is None else best[1:]
