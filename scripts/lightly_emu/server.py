"""The HTTP/1.1 front end: Handler (body framing, stats, faults, one write per
answer) and Server.  It reaches the route handlers only through the
server's .emulator (router, handle, stats, faults, storage_error).
"""

import socket
import struct
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from .common import KEEPALIVE_IDLE_S, MAX_BODY_BYTES, ApiError, malformed
from .wire import BLOB_ROUTE, Request, Response, error_response


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive front end: body framing, faults, one write per answer."""

    protocol_version = "HTTP/1.1"
    server_version = "lightly-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = KEEPALIVE_IDLE_S

    def log_message(self, fmt, *args):
        if self.server.emulator.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch()

    def send_error(self, code, message=None, explain=None):
        """Framing errors found by http.server get the Lightly error shape too."""
        self.close_connection = True
        code_name = "MALFORMED_REQUEST" if code == 400 else "HTTP_%d" % code
        self.send(error_response(code, code_name, message or "bad request"))

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise ApiError(413, "PAYLOAD_TOO_LARGE", "request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.isdigit():
            raise malformed("bad Content-Length")
        if int(length) > MAX_BODY_BYTES:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", "request body too large")
        return self.rfile.read(int(length))

    def dispatch(self):
        emu = self.server.emulator
        split = urlsplit(self.path)
        path = split.path
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        internal = path == "/_emulator" or path.startswith("/_emulator/")
        try:
            body = self.read_body()
        except ApiError as err:
            self.close_connection = True
            self.send(error_response(err.status, err.code, err.message))
            return
        except (ValueError, OSError):
            self.close_connection = True
            self.send(error_response(400, "MALFORMED_REQUEST", "bad request framing"))
            return
        found = emu.router.match(self.command, path)
        storage_only = getattr(self.server, "role", "api") == "storage"
        if storage_only and found is not None and found[0] != BLOB_ROUTE:
            found = None
            internal = False
        template = found[0] if found else "<unknown>"
        blob = template == BLOB_ROUTE
        fault = None
        key = None
        if not internal:
            key = "%s %s" % (self.command, template)
            emu.stats.count(key)
            emu.stats.enter(key, self.client_address)
            fault = emu.faults.take(key, found[3] if found else None)
        try:
            self.serve_counted(emu, found, path, query, body, fault, blob, storage_only)
        finally:
            if key is not None:
                emu.stats.leave(key)

    def serve_counted(self, emu, found, path, query, body, fault, blob, storage_only):
        if blob or storage_only:
            token = emu.token
            emu.stats.count_blob(
                self.command, token in unquote(self.path)
                or any(token in v for v in self.headers.values()),
                "Authorization" in self.headers, "Range" in self.headers)
        if fault and fault.get("delay_ms"):
            time.sleep(fault["delay_ms"] / 1000.0)
        if fault and fault.get("drop"):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        resp = self.injected(emu, fault, blob or storage_only) if fault else None
        if resp is None:
            if storage_only and found is None:
                resp = emu.storage_error(404, "NoSuchKey", "The specified key does not exist.")
            else:
                resp = self.real_response(emu, found, path, query, body)
        if fault and fault.get("answer_delay_ms"):
            # answered now, delivered late: what a slow way back looks like
            time.sleep(fault["answer_delay_ms"] / 1000.0)
        self.send(resp, fault=fault, blob=blob or storage_only)

    @staticmethod
    def injected(emu, fault, storage):
        status = fault.get("status")
        if status is None and "retry_after_s" in fault:
            status = 429
        if "body" in fault:
            resp = Response(status or 200, fault["body"].encode("utf-8"))
        elif status is not None and storage:
            code = {500: "InternalError", 503: "SlowDown"}.get(status, "InjectedFault")
            resp = emu.storage_error(status, code, "fault injected by the emulator")
        elif status is not None:
            resp = error_response(status, "INJECTED_FAULT", "fault injected by the emulator")
        else:
            return None
        if "retry_after_s" in fault:
            resp.headers.append(("Retry-After", str(fault["retry_after_s"])))
        return resp

    def real_response(self, emu, found, path, query, body):
        if found is None:
            return error_response(404, "NOT_FOUND", "no route %s %s" % (self.command, path))
        template, handler, auth, params = found
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        req = Request(self.command, path, query, self.headers, body, params, host)
        try:
            return emu.handle(req, handler, auth)
        except ApiError as err:
            return error_response(err.status, err.code, err.message)
        except Exception:  # the emulator's own bug: answer 500 and show it
            traceback.print_exc(file=sys.stderr)
            return error_response(500, "INTERNAL_ERROR", "emulator error")

    def send(self, resp, fault=None, blob=False):
        """One answer; a fault may cut the body short (truncate, truncate_after_bytes:
        FIN after that much; reset_after_bytes: RST) or pace it (rate_bps)."""
        fault = fault or {}
        reason = self.responses.get(resp.status, ("Status",))[0]
        body = resp.body if self.command != "HEAD" else b""
        head = ["HTTP/1.1 %d %s" % (resp.status, reason),
                "Server: %s" % self.server_version,
                "Date: %s" % self.date_time_string(),
                "Content-Type: %s" % resp.content_type,
                "Content-Length: %d" % len(resp.body)]
        head.extend("%s: %s" % h for h in resp.headers)
        reset = "reset_after_bytes" in fault
        if fault.get("truncate"):
            body = body[:len(body) // 2]
        for key in ("truncate_after_bytes", "reset_after_bytes"):
            if key in fault:
                body = body[:fault[key]]
        if len(body) < len(resp.body) and self.command != "HEAD":
            self.close_connection = True
        head.append("Connection: %s" % ("close" if self.close_connection else "keep-alive"))
        self.log_request(resp.status, len(resp.body))
        sent = 0
        rate = fault.get("rate_bps")
        if blob:
            # counted before the answer leaves: a client that reads the
            # stats right after it must find it there (a paced body counts
            # its bytes as they go)
            self.server.emulator.stats.blob_sent(resp.status, 0 if rate else len(body))
        try:
            if rate:
                self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
                self.wfile.flush()
                step = max(1, rate // 20)
                for start in range(0, len(body), step):
                    part = body[start:start + step]
                    self.wfile.write(part)
                    self.wfile.flush()
                    sent += len(part)
                    time.sleep(len(part) / rate)
            else:
                self.send_all(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"), body)
                sent = len(body)
            if reset:
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.rfile.close()      # drop the makefile reference: close() is real
                self.connection.close()
        except OSError:
            self.close_connection = True
        if blob and rate:
            self.server.emulator.stats.blob_bytes(sent)


    def send_all(self, head, body):
        """head and body in one gathered write, so a big body is not copied
        onto the end of its head first."""
        self.wfile.flush()
        parts = [memoryview(head), memoryview(body)]
        while parts:
            n = self.connection.sendmsg(parts)
            while parts and n >= len(parts[0]):
                n -= len(parts[0])
                parts.pop(0)
            if parts:
                parts[0] = parts[0][n:]


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        if self.emulator.verbose:
            super().handle_error(request, client_address)
