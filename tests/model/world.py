"""The processes of the model test (tests/model/test_model.py): the
emulator, the two mounts and a worker per mount that makes the system calls.
Everything started here is stopped by pid in World.close(); every mount made
here is unmounted."""

import json
import os
import select
import signal
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("LIGHTLYFS_BIN", os.path.join(ROOT, "build", "lightlyfs"))
EMULATOR = os.path.join(ROOT, "scripts", "lightly_emulator.py")
TOKEN = "model-token-%d-secret" % os.getpid()
OP_TIMEOUT_S = 20       # one batch of system calls in a worker


def log(msg):
    print(msg, flush=True)


# Every system call on a mount runs in a worker process, so a hung FUSE call
# costs a bounded wait and a killed worker, never a hung test.
WORKER = r'''
import errno, json, os, subprocess, sys, time
def one(op):
    k, a = op[0], op[1:]
    try:
        if k == "link": os.link(a[0], a[1])
        elif k == "unlink": os.unlink(a[0])
        elif k == "rename": os.rename(a[0], a[1])
        elif k == "mkdir": os.mkdir(a[0])
        elif k == "makedirs": os.makedirs(a[0], exist_ok=True)
        elif k == "rmdir": os.rmdir(a[0])
        elif k == "rm-r":
            r = subprocess.run(["rm", "-r", "--", a[0]], capture_output=True, text=True)
            if r.returncode: return {"err": "rm -r exit %d: %s" % (r.returncode, r.stderr.strip()[-300:])}
        elif k == "run":
            r = subprocess.run(a[0], capture_output=True, text=True)
            if r.returncode: return {"err": "%s exit %d: %s" % (a[0][0], r.returncode, r.stderr.strip()[-300:])}
        elif k == "write":
            with open(a[0], "w") as f: f.write(a[1])
        elif k == "fsync":
            fd = os.open(a[0], os.O_RDONLY)
            try: os.fsync(fd)
            finally: os.close(fd)
        elif k == "listdir": return {"ok": sorted(os.listdir(a[0]))}
        elif k == "files":
            out = []
            for d, dirs, files in os.walk(a[0], onerror=lambda e: (_ for _ in ()).throw(e)):
                out += [os.path.relpath(os.path.join(d, f), a[0]) for f in files]
            return {"ok": sorted(out)}
        elif k == "read":
            with open(a[0], "rb") as f: return {"ok": f.read().decode("utf-8", "replace")}
        else: return {"err": "unknown op " + k}
        return {"ok": None}
    except OSError as e:
        return {"err": errno.errorcode.get(e.errno, str(e.errno))}
for line in sys.stdin:
    req = json.loads(line)
    if req.get("at"):
        d = req["at"] - time.time()
        if d > 0: time.sleep(d)
    res = [one(op) for op in req["ops"]]
    sys.stdout.write(json.dumps(res) + "\n"); sys.stdout.flush()
'''


class Worker:
    def __init__(self, cwd, world):
        self.cwd = cwd
        self.world = world
        self.proc = None
        self.buf = b""

    def start(self):
        self.proc = subprocess.Popen(["/usr/bin/python3", "-c", WORKER], cwd=self.cwd,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.buf = b""

    def send(self, ops, at=None):
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.world.ops += len(ops)
        self.proc.stdin.write((json.dumps({"ops": ops, "at": at}) + "\n").encode())
        self.proc.stdin.flush()
        self.pending = ops

    def recv(self, timeout=OP_TIMEOUT_S):
        end = time.time() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = end - time.time()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.stop()
                raise AssertionError("system calls hung for %d s: %r" % (timeout, self.pending))
            chunk = os.read(fd, 65536)
            if not chunk:
                self.stop()
                raise AssertionError("worker died during %r" % (self.pending,))
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def run(self, ops):
        self.send(ops)
        return self.recv()

    def stop(self):
        if self.proc is not None:
            try:
                self.proc.kill()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None


def in_proc_mounts(path):
    try:
        with open("/proc/mounts") as f:
            return any(l.split()[1] == path for l in f)
    except OSError:
        return False


def rss_kb(proc):
    try:
        with open("/proc/%d/status" % proc.pid) as f:
            for l in f:
                if l.startswith("VmRSS:"):
                    return int(l.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class World:
    """The emulator, the two mounts and their workers; everything it starts
    it stops (by pid) in close(), which atexit and signals also reach."""

    def __init__(self, options):
        self.tmp = tempfile.mkdtemp(prefix="lfs-model.")
        self.options = options    # the mounts' -o
        self.emu = None
        self.port = 0
        self.url = None
        self.mounts = []      # dicts: base, mnt, proc, log, worker
        self.closed = False
        self.stopping = 0
        self.ds_counter = 0
        self.deadline = None
        self.ops = 0          # system calls and API calls made
        self.restarts = [0, 0]

    # --- emulator and API
    def start_emulator(self):
        """Starts it (again: on the same port, from the same state file)."""
        for _ in range(20):
            try:
                return self.try_emulator()
            except RuntimeError:
                if not self.port:
                    raise
                time.sleep(0.2)      # the port is not free yet
        raise RuntimeError("emulator did not start again on port %d" % self.port)

    def try_emulator(self):
        out = os.path.join(self.tmp, "emu.out")
        with open(out, "w") as o, open(os.path.join(self.tmp, "emu.err"), "a") as e:
            self.emu = subprocess.Popen(["/usr/bin/python3", EMULATOR, "--port", str(self.port),
                                         "--token", TOKEN,
                                         "--state", os.path.join(self.tmp, "state.sqlite")],
                                        stdout=o, stderr=e)
        for _ in range(300):
            with open(out) as f:
                for l in f:
                    if l.startswith("port="):
                        self.port = int(l.strip()[5:])
                        self.url = "http://127.0.0.1:%d" % self.port
                        return
            if self.emu.poll() is not None:
                break
            time.sleep(0.1)
        self.stop_emulator()
        raise RuntimeError("emulator did not start: " + open(os.path.join(self.tmp, "emu.err")).read())

    def stop_emulator(self):
        if self.emu is not None and self.emu.poll() is None:
            self.emu.terminate()      # it commits its state and exits 0
            try:
                self.emu.wait(10)
            except subprocess.TimeoutExpired:
                self.emu.kill()
                self.emu.wait(5)
        self.emu = None

    def api(self, method, path, body=None, auth=True):
        self.ops += 1
        if auth:
            path += ("&" if "?" in path else "?") + "token=" + TOKEN
        r = urllib.request.Request(self.url + path, method=method,
                                   data=None if body is None else json.dumps(body).encode(),
                                   headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=15) as f:
            data = f.read()
        return json.loads(data) if data else None

    # --- mounts
    def start_mounts(self):
        for k in range(2):
            base = os.path.join(self.tmp, "m%d-%d" % (k, time.monotonic_ns()))
            for d in (base + ".mnt", base + "/state", base + "/cache"):
                os.makedirs(d)
            self.mounts.append({"base": base, "mnt": base + ".mnt", "log": base + ".log",
                                "proc": None, "worker": Worker(self.tmp, self)})
            self.start_mount(k)

    def start_mount(self, k):
        """Mount k with its state and cache dirs (again after a kill: the
        journal there is replayed)."""
        m = self.mounts[k]
        base = m["base"]
        env = dict(os.environ, LIGHTLY_TOKEN=TOKEN, LIGHTLY_SERVER_LOCATION=self.url,
                   XDG_STATE_HOME=base + "/state", XDG_CACHE_HOME=base + "/cache")
        with open(m["log"], "a") as lf:
            m["proc"] = subprocess.Popen([BIN, "-f", "-o", self.options, m["mnt"]],
                                         env=env, stdout=lf, stderr=lf, stdin=subprocess.DEVNULL)
        for _ in range(100):
            if in_proc_mounts(m["mnt"]) or m["proc"].poll() is not None:
                break
            time.sleep(0.1)
        if not in_proc_mounts(m["mnt"]):
            raise RuntimeError("mount %d failed: %s" % (k, open(m["log"]).read()[-2000:]))

    def kill_mount(self, k):
        """kill -9 of mount k's daemon, and the dead mount unmounted."""
        m = self.mounts[k]
        m["worker"].stop()
        m["proc"].send_signal(signal.SIGKILL)
        m["proc"].wait(10)
        self.unmount(m["mnt"], lazy=True)

    def restart_mount(self, k):
        self.kill_mount(k)
        self.start_mount(k)
        self.restarts[k] += 1

    def unmount(self, mnt, lazy=False):
        if in_proc_mounts(mnt):
            subprocess.run(["fusermount3", "-uz" if lazy else "-u", mnt], timeout=15,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def rss(self, k):
        return rss_kb(self.mounts[k]["proc"]) if k < len(self.mounts) else 0

    def heap_kb(self, k):
        """Mount k's bytes in use by malloc, as its .lightly/stats says (0 unknown)."""
        try:
            with open(os.path.join(self.mounts[k]["mnt"], ".lightly", "stats")) as f:
                return json.load(f).get("heapInUseBytes", 0) // 1024
        except (OSError, ValueError, IndexError, KeyError):
            return 0

    def stop_mounts(self):
        for m in self.mounts:
            m["worker"].stop()
            self.unmount(m["mnt"])
            if m["proc"] is not None:
                try:
                    m["proc"].wait(15)     # it sends what is pending before it exits
                except subprocess.TimeoutExpired:
                    m["proc"].kill()
                    m["proc"].wait(5)
            self.unmount(m["mnt"], lazy=True)
            try:
                os.rmdir(m["mnt"])
            except OSError:
                pass
        self.mounts = []

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            self.stop_mounts()
        finally:
            self.stop_emulator()
            if os.environ.get("KEEP_LOGS"):
                log("model: logs kept in " + self.tmp)
            else:
                subprocess.run(["rm", "-rf", "--one-file-system", self.tmp], timeout=30)
