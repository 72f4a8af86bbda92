"""The command line: --help text (with EMULATOR_CHOICES, the decisions the API
reference leaves open), option parsing, and main(), which builds Store,
Emulator and the API (and storage) Server, seeds, prints port=N and serves.
"""

import argparse
import re
import os
import signal
import sys
import tempfile
import threading
import time

from . import content
from .bodies import BLOB_SIZE, BLOB_SIZE_MODES, FIXED_JPEG_SIZE, SIZE_META_MODES, Content
from .common import DATASOURCE_BUCKET, DEFAULT_EXPIRES_IN_S, DEFAULT_TOKEN
from .emulator import Emulator
from .seed import seed_dataset, seed_demo
from .server import Handler, Server
from .store import Store
from .wire import AUTH_NONE, AUTH_PUBLIC


EMULATOR_CHOICES = """\
choices where the API reference is silent:
  auth        token from ?token= (wins) or 'Authorization: Bearer'; a wrong or
              missing one is 401 UNAUTHORIZED.  No token is needed under
              /v1/versions/, /_emulator/, /blobs/ (signed) and for
              readurlRedirect carrying a valid publicToken.
  order       unknown route -> 404 NOT_FOUND before auth; then auth; then
              path ids (400) and existence (404); then body (400); then the
              rules (400/409).
  paging      pageSize >= 1 and pageOffset >= 0 integers, else 400; without
              pageSize everything from pageOffset is returned.
  samples     SampleData = {id, type:"IMAGE", datasetId, fileName, createdAt,
              lastModifiedAt} plus every other field the creating request
              sent (e.g. metaData) at top level.  fileName must be a relative
              path of 1..255 characters without NUL, empty, '.' or '..'
              components; duplicate -> 409 SAMPLE_FILENAME_EXISTS.
  images      readurl answers a JSON string, a signed /blobs/... URL valid
              for --url-ttl seconds; readurlRedirect answers 302 to a fresh
              one.  Bodies: .jpg/.jpeg names get a baseline grey-scale JPEG,
              every other name a PNG (thumbnails too, 2..24 KiB when varied).
              Sizes: metaData.sizeInBytes of the creating request if given
              (clamped to the format's minimum and 64 MiB), else per
              --blob-sizes.  A listed sample without client metaData gets
              metaData {sizeInBytes, shape: [height, width, channels]}; a
              client's metaData is echoed as sent.  A dataset's sizeInBytes is
              the sum of its full bodies (summed on first use: ~0.7 s per
              million varied names).  type=meta serves a small JSON.  An
              unknown sample is 404 SAMPLE_UNKNOWN at readurl, 404 NoSuchKey
              at storage.
  storage     errors are XML (S3 shape, GCS without RequestId/HostId);
              storage never accepts the Lightly token: an unsigned query
              parameter breaks the signature (403), an Authorization header
              is 400 InvalidArgument, and both are counted in withToken.
  tags        a tag's totSize must be an integer >= 0; bits must lie below
              the dataset's current sample count.  A new tag starts with
              changes [] (or one entry when the request carries 'changes').
              PUT appends {userId, creator, ts, changes} where changes is the
              request's 'changes' object or, without one, {"name": {"from",
              "to"}} and/or {"bitMaskData": {"added": n, "removed": n}}.
  arithmetic  a created tag gets totSize max(totSize1, totSize2); an unknown
              tagId1/tagId2 is 404 TAG_UNKNOWN.
  upsize      with no new samples it still creates the (empty, 0x0) tag; the
              initial tag's bits are OR-ed with the new ones; every tag gets
              totSize = nSamples and a new lastModifiedAt.
  exports     LabelStudio task id = sample index.  Without expiresIn the
              publicToken never expires (its expiry field is 0); with it, an
              expired one is 401 at readurlRedirect.  accessControl must match
              [a-zA-Z0-9][a-zA-Z0-9_.-]{0,63} and changes nothing else.
              previewExample=true returns only the first entry.  The old
              paths ignore paging, the new ones honour it.  A tag created by
              arithmetics or upsize starts with one change entry
              {arithmetics: {operation, tag1, tag2}} / {upsize: {from, to}}.
  datasets    names need not be unique; lastModifiedAt moves when samples are
              added (not on tag changes).
  stats       requests to routes that do not exist count as
              '<METHOD> <unknown>'.
  faults      'match' is exactly 'METHOD /route/{template}' (as in stats) or
              '*' ('sample_id' narrows it to one sample); the first added
              fault that matches wins and its count goes down by one.  A
              'status' without 'body' serves the error body with code
              INJECTED_FAULT; 'retry_after_s' without 'status' implies 429;
              faults never apply to /_emulator/ requests, and faulted
              requests are counted in stats.
"""


def api_routes_help():
    """The /v1 routes, read from the Emulator's own route table, so the help
    names exactly what the server registers."""
    paged = Emulator(None, "").router.routes
    unpaged = {(r[0], r[1]) for r in Emulator(None, "", paged_exports=False).router.routes}
    lines = ["API routes (from the route table; the token is needed unless noted,",
             "* not with --no-paged-exports):"]
    for method, template, _, _, auth in paged:
        if not template.startswith("/v1/"):
            continue
        note = {AUTH_NONE: "  (no token)", AUTH_PUBLIC: "  (or a publicToken)"}.get(auth, "")
        star = "" if (method, template) in unpaged else " *"
        lines.append("  %-6s %s%s%s" % (method, template, star, note))
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="lightly_emulator.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Local emulator of the Lightly REST API (datasets, samples, mappings,\n"
                    "the seventeen tag endpoints of the 1.5.26 client, exports) for the\n"
                    "lightlyfs demo and tests.",
        epilog="""\
output: the first line on stdout is 'port=NNNNN' once the server accepts
requests; it then serves until SIGTERM or SIGINT and exits 0 with its state
committed.

auth: every /v1 call needs the API token, as query parameter token=TOKEN or
header 'Authorization: Bearer TOKEN' (default TOKEN: %(token)s).

%(routes)s

test support (no token; not part of the Lightly API; not counted in stats):
  GET    /_emulator/health                 {"ok": true}
  GET    /_emulator/stats                  {"total": N, "routes":
                                            {"GET /v1/datasets/{datasetId}/tags": N, ...},
                                            "maxInFlight": {route: most served at once},
                                            "connections": {route: client connections seen}}
  POST   /_emulator/stats/reset            zero the counters
  POST   /_emulator/faults                 {"match": "GET /v1/datasets/{datasetId}/tags" | "*",
                                            "status": 503, "count": 3, "delay_ms": 0,
                                            "answer_delay_ms": 0 (answered at once, sent late),
                                            "retry_after_s": 10, "drop": false,
                                            "truncate": false, "body": "..."}  -> 201 fault
                                           blob faults (storage route
                                            "GET /blobs/{datasetId}/{sampleId}"):
                                            "rate_bps": N (slow body), "reset_after_bytes": N
                                            (RST after N body bytes), "truncate_after_bytes": N
                                            (FIN after N bytes under the full Content-Length),
                                            "sample_id": ID (only that sample); a "status"
                                            there answers an S3/GCS XML error
  GET    /_emulator/faults                 the active faults
  DELETE /_emulator/faults                 remove them all
  GET    /_emulator/stats/storage          {"requests", "bytes" (body bytes sent), "withToken"
                                            (path, query or a header held the Lightly token),
                                            "withAuthorization", "head", "ranges", "byStatus"};
                                            also under "storage" in /_emulator/stats once a
                                            storage request was counted since the last reset
  GET    /_emulator/info                   the storage/content options in effect
  POST   /_emulator/datasets/{id}/samples  {"fileNames": [...]} appends raw names, unchecked

storage (signed URLs from readurl, readurlRedirect, filenamesAndReadUrls; no token):
  GET    /blobs/{datasetId}/{sampleId}?type=&exp=&sig=
         image bytes (image/png, image/jpeg), Range: bytes=a-b | a- | -n -> 206 with
         Content-Range (one range; several or a malformed one -> 200 whole), past the
         end -> 416 with 'Content-Range: bytes */TOTAL'.  HEAD -> 403 (signed for GET).
         Expired (--url-ttl): s3 403 AccessDenied 'Request has expired', gcs 400
         ExpiredToken; bad signature or an unsigned query parameter (e.g. token=)
         403 SignatureDoesNotMatch; an Authorization header 400 InvalidArgument;
         unknown sample 404 NoSuchKey (XML bodies).  Served on the API port, or on
         its own port with --storage-port (printed as a second line storage_port=N);
         signed URLs start with --storage-url when given (a TLS front end's name).

sample content routes (token needed):
  GET /v1/datasets/{ds}/samples?pageSize&pageOffset     SampleData in index order with
      metaData {sizeInBytes, shape [h, w, c]} (see --size-meta)
  POST /v1/datasets/{ds}/samples                        {fileName, metaData?, ...} -> 201 {id}
  GET /v1/datasets/{ds}/samples/{id}/readurl?type=full|thumbnail|meta   signed URL (JSON string)
  GET /v1/datasets/{ds}/samples/{id}/readurlRedirect?type&publicToken   302 to a fresh URL
  GET /v1/datasets/{ds}/tags/{tag}/export/basic/filenames?fileNameFormat=NAME|
      REDIRECTED_READ_URL|DATASOURCE_FULL&pageSize&pageOffset&expiresIn
      text/plain, one line per sample in index order, joined by newlines (none after
      the last; an empty page is an empty body); DATASOURCE_FULL is
      s3://%(bucket)s/<datasetId>/<fileName> (gs:// with --storage gcs)
  GET /v1/datasets/{ds}/tags/{tag}/export/basic/filenamesAndReadUrls?pageSize&pageOffset
      [{fileName, readUrl}] with direct signed URLs

%(choices)s""" % {"token": DEFAULT_TOKEN, "choices": EMULATOR_CHOICES,
                   "routes": api_routes_help(),
                   "bucket": DATASOURCE_BUCKET})
    parser.add_argument("--port", type=int, required=True,
                        help="TCP port; 0 picks a free one (printed as port=N)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--token", default=DEFAULT_TOKEN,
                        help="API token the server accepts (default %s)" % DEFAULT_TOKEN)
    parser.add_argument("--state", metavar="FILE.sqlite",
                        help="keep state in this SQLite file across restarts "
                             "(default: a temp file deleted at exit)")
    parser.add_argument("--dataset", action="append", default=[], metavar="NAME:N",
                        help="create dataset NAME with N samples sample_%%07d.jpg and an "
                             "initial tag 'initial-tag' holding them all, unless a dataset "
                             "named NAME exists; repeatable")
    parser.add_argument("--demo", action="store_true",
                        help="create (once) a small demo account: street-scenes (twice), "
                             "warehouse-pallets, medical-xray, with tag trees")
    parser.add_argument("--verbose", action="store_true",
                        help="log every request to stderr")
    parser.add_argument("--blob-sizes", choices=BLOB_SIZE_MODES, default="fixed",
                        help="image bodies of samples created without metaData.sizeInBytes: "
                             "'fixed' (default; %d-byte 16x16 PNG, %d-byte JPEG for .jpg/.jpeg) "
                             "or 'varied' (deterministic per file name, %d KiB .. %d MiB); "
                             "--demo samples always carry varied sizes, one over 8 MiB"
                             % (BLOB_SIZE, FIXED_JPEG_SIZE, content.VARIED_MIN // 1024,
                                content.VARIED_MAX // (1024 * 1024)))
    parser.add_argument("--size-meta", choices=SIZE_META_MODES, default="exact",
                        help="metaData.sizeInBytes in sample listings: 'exact' (default, the "
                             "body length), 'absent' (left out), 'smaller'/'larger' (off by a "
                             "quarter of the size)")
    parser.add_argument("--url-ttl", type=int, default=DEFAULT_EXPIRES_IN_S, metavar="SECONDS",
                        help="lifetime of signed storage URLs (default %d = 7 days)"
                             % DEFAULT_EXPIRES_IN_S)
    parser.add_argument("--storage", choices=("s3", "gcs"), default="s3",
                        help="how storage answers errors, expiry in particular: 's3' (403 "
                             "AccessDenied 'Request has expired', default) or 'gcs' (400 "
                             "ExpiredToken)")
    parser.add_argument("--storage-port", type=int, metavar="PORT",
                        help="serve storage (signed URLs) on a second port, another origin "
                             "than the API; 0 picks a free one, printed as storage_port=N on "
                             "the second line (default: the API port)")
    parser.add_argument("--storage-host", metavar="NAME",
                        help="host name signed URLs use with --storage-port (default: the "
                             "--host address, 127.0.0.1 for a wildcard one)")
    parser.add_argument("--storage-url", metavar="URL",
                        help="public base URL signed storage URLs start with, e.g. "
                             "https://storage.test:8443 for a TLS front end (bench/wan) "
                             "that forwards to the storage port (or, without "
                             "--storage-port, to the API port); wins over --storage-host")
    parser.add_argument("--api-url", metavar="URL",
                        help="public base URL of the API that the links in exports and "
                             "readurlRedirect answers start with, e.g. https://api.test for a "
                             "TLS front end (bench/wan) that forwards to the API port "
                             "(default: http:// and the request's Host)")
    parser.add_argument("--no-paged-exports", action="store_true",
                        help="an older server: export/LabelStudio/tasks and "
                             "export/LabelBox/datarows answer 404 (the old LabelStudioTasks "
                             "and LabelBoxDataRows paths still work)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    temp_path = None
    if args.state:
        state_path = args.state
    else:
        fd, temp_path = tempfile.mkstemp(prefix="lightly-emulator-", suffix=".sqlite")
        os.close(fd)
        state_path = temp_path
    store = None
    try:
        if args.url_ttl < 1:
            raise SystemExit("--url-ttl wants a number of seconds >= 1")
        if args.storage_url is not None and not re.match(
                r"^https?://[^/?#\s]+/?$", args.storage_url):
            raise SystemExit("--storage-url wants http(s)://HOST[:PORT] with no path")
        if args.api_url is not None and not re.match(r"^https?://[^/?#\s]+/?$", args.api_url):
            raise SystemExit("--api-url wants http(s)://HOST[:PORT] with no path")
        store = Store(state_path, Content(args.blob_sizes), args.size_meta)
        emulator = Emulator(store, args.token, verbose=args.verbose, url_ttl=args.url_ttl,
                            storage=args.storage, paged_exports=not args.no_paged_exports)
        server = Server((args.host, args.port), Handler)
        server.emulator = emulator
        storage_server = None
        if args.storage_port is not None:
            storage_server = Server((args.host, args.storage_port), Handler)
            storage_server.emulator = emulator
            storage_server.role = "storage"
            host = args.storage_host or (
                "127.0.0.1" if args.host in ("", "0.0.0.0", "::") else args.host)
            if ":" in host and not host.startswith("["):
                host = "[%s]" % host
            emulator.storage_base = "http://%s:%d" % (host, storage_server.server_address[1])
        if args.storage_url:
            emulator.storage_base = args.storage_url.rstrip("/")
        if args.api_url:
            emulator.api_base = args.api_url.rstrip("/")
        for spec in args.dataset:
            started = time.monotonic()
            seed_dataset(store, spec)
            if args.verbose:
                sys.stderr.write("seeded %s in %.2f s\n" % (spec, time.monotonic() - started))
        if args.demo:
            seed_demo(store)

        def stop(signum, frame):
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if storage_server is not None:
            threading.Thread(target=storage_server.serve_forever, kwargs={"poll_interval": 0.1},
                             daemon=True).start()
        sys.stdout.write("port=%d\n" % server.server_address[1])
        if storage_server is not None:
            sys.stdout.write("storage_port=%d\n" % storage_server.server_address[1])
        sys.stdout.flush()
        server.serve_forever(poll_interval=0.1)
        server.server_close()
        if storage_server is not None:
            storage_server.shutdown()
            storage_server.server_close()
    finally:
        if store is not None:
            store.close()
        if temp_path:
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.unlink(temp_path + suffix)
                except FileNotFoundError:
                    pass
    return 0
