#!/usr/bin/env python3
"""What bench/wan.sh does in Python (standard library only).

  tools.py seed EMU TOKEN NAME N         a dataset of N samples of 8 KiB .. 1 MiB
                                         (log-uniform, fixed seed) and one of 8 MiB
  tools.py urls EMU TOKEN DS OUT         read URLs of DS's samples, one a line
                                         ("URL<TAB>fileName"), fetched undelayed
  tools.py official API_ADDR STORAGE_ADDR CA TOKEN DS OUTDIR
                                         the official client's way over the link:
                                         readurl then GET, 8 threads, a kept-alive
                                         connection per thread and host
  tools.py conns LOG FROM                connections per host in nginx's log after
                                         line FROM (link addresses only)
"""
import http.client
import json
import os
import queue
import random
import socket
import ssl
import sys
import threading
import urllib.parse
import urllib.request

MIB = 1 << 20


def api(emu, token, method, path, body=None):
    sep = "&" if "?" in path else "?"
    req = urllib.request.Request(
        "%s%s%stoken=%s" % (emu, path, sep, token), method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as f:
        data = f.read()
    return json.loads(data) if data else None


def seed(emu, token, name, n):
    rng = random.Random(22)
    ds = api(emu, token, "POST", "/v1/datasets", {"name": name})["id"]
    for i in range(n):
        size = 8 * MIB if i == n // 2 else int(8192 * (128 ** rng.random()))
        api(emu, token, "POST", "/v1/datasets/%s/samples" % ds,
            {"fileName": "img_%04d.jpg" % i, "metaData": {"sizeInBytes": size}})
    api(emu, token, "POST", "/v1/datasets/%s/tags/initial" % ds,
        {"imgType": "full", "name": "initial-tag"})
    print(ds)


def urls(emu, token, ds, out):
    with open(out, "w") as f:
        for s in api(emu, token, "GET", "/v1/datasets/%s/samples" % ds):
            url = api(emu, token, "GET", "/v1/datasets/%s/samples/%s/readurl" % (ds, s["id"]))
            f.write("%s\t%s\t%d\n" % (url, s["fileName"], s["metaData"]["sizeInBytes"]))


class Conn(http.client.HTTPSConnection):
    """HTTPS to a host name at a fixed address (the bed's names resolve
    nowhere), the certificate checked against the name."""

    def __init__(self, host, addr, ctx):
        super().__init__(host, 443, context=ctx, timeout=300)
        self.addr = addr

    def connect(self):
        sock = socket.create_connection((self.addr, 443), timeout=self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def get(conn, path):
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        raise RuntimeError("GET %s: %d" % (path.split("?")[0], resp.status))
    return body


def official(api_addr, storage_addr, ca, token, ds, outdir):
    ctx = ssl.create_default_context(cafile=ca)
    api_conn = Conn("api.test", api_addr, ctx)
    samples = json.loads(get(api_conn, "/v1/datasets/%s/samples?token=%s" % (ds, token)))
    work = queue.Queue()
    for s in samples:
        work.put(s)
    errors = []

    def worker():
        a, s = Conn("api.test", api_addr, ctx), Conn("storage.test", storage_addr, ctx)
        while True:
            try:
                smp = work.get_nowait()
            except queue.Empty:
                return
            try:
                url = json.loads(get(a, "/v1/datasets/%s/samples/%s/readurl?token=%s"
                                     % (ds, smp["id"], token)))
                parts = urllib.parse.urlsplit(url)
                body = get(s, parts.path + "?" + parts.query)
                with open(os.path.join(outdir, smp["fileName"]), "wb") as f:
                    f.write(body)
            except Exception as e:  # noqa: BLE001 - reported, counted
                errors.append(str(e))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit("official: %d errors, first: %s" % (len(errors), errors[0]))


def conns(log, start):
    seen = {}
    with open(log) as f:
        for i, line in enumerate(f):
            if i < start:
                continue
            p = line.split()
            if len(p) > 2 and p[1].startswith("10.213."):
                seen.setdefault(p[0], set()).add(p[2])
    print(" ".join("%s=%d" % (h, len(c)) for h, c in sorted(seen.items())) or "none")


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "seed":
        seed(args[0], args[1], args[2], int(args[3]))
    elif cmd == "urls":
        urls(*args)
    elif cmd == "official":
        official(*args)
    elif cmd == "conns":
        conns(args[0], int(args[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
