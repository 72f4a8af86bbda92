"""Request statistics behind /_emulator/stats: counters per route template,
requests in flight and client connections per route, and what storage
served (requests, bytes, token leaks, HEADs, ranges, statuses).
"""

import threading


class Stats:
    """Request counters keyed by 'METHOD /route/{template}'."""

    STORAGE_KEYS = ("requests", "bytes", "withToken", "withAuthorization", "head", "ranges")

    def __init__(self):
        self.lock = threading.Lock()
        self.total = 0
        self.routes = {}
        self.in_flight = {}      # route -> requests being served now
        self.max_in_flight = {}  # route -> most served at once since reset
        self.peers = {}          # route -> client (host, port)s seen since reset
        self._zero_storage()

    def _zero_storage(self):
        self.storage = dict.fromkeys(self.STORAGE_KEYS, 0)
        self.storage["byStatus"] = {}

    def count(self, key):
        with self.lock:
            self.total += 1
            self.routes[key] = self.routes.get(key, 0) + 1

    def enter(self, key, peer):
        """A request of route key is being served, from connection peer."""
        with self.lock:
            n = self.in_flight.get(key, 0) + 1
            self.in_flight[key] = n
            self.max_in_flight[key] = max(self.max_in_flight.get(key, 0), n)
            self.peers.setdefault(key, set()).add(peer)

    def leave(self, key):
        with self.lock:
            self.in_flight[key] -= 1

    def count_blob(self, method, with_token, with_auth, ranged):
        with self.lock:
            st = self.storage
            st["requests"] += 1
            st["withToken"] += bool(with_token)
            st["withAuthorization"] += bool(with_auth)
            st["head"] += method == "HEAD"
            st["ranges"] += bool(ranged)

    def blob_sent(self, status, nbytes):
        with self.lock:
            st = self.storage
            st["bytes"] += nbytes
            key = str(status)
            st["byStatus"][key] = st["byStatus"].get(key, 0) + 1

    def blob_bytes(self, nbytes):
        with self.lock:
            self.storage["bytes"] += nbytes

    def storage_snapshot(self):
        with self.lock:
            out = dict(self.storage)
            out["byStatus"] = dict(sorted(self.storage["byStatus"].items()))
            return out

    def snapshot(self):
        with self.lock:
            snap = {"total": self.total, "routes": dict(sorted(self.routes.items())),
                    "maxInFlight": dict(sorted(self.max_in_flight.items())),
                    "connections": {k: len(v) for k, v in sorted(self.peers.items())}}
            busy = self.storage["requests"] > 0
        if busy:
            snap["storage"] = self.storage_snapshot()
        return snap

    def reset(self):
        with self.lock:
            self.total = 0
            self.routes = {}
            self.max_in_flight = {}
            self.peers = {}
            self._zero_storage()
