#!/usr/bin/python3
"""RSS of one mount while tags are created, listed and deleted through the API:
    /usr/bin/python3 bench/tagchurn.py BUILD/lightlyfs N
prints the daemon's VmRSS and malloc'ed bytes (.lightly/stats heapInUseBytes)
every N/5 tags and the growth per deleted tag."""
import json, os, subprocess, sys, tempfile, time, urllib.request
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))); BIN = sys.argv[1]; N = int(sys.argv[2])
TOKEN = "churn-token"
work = tempfile.mkdtemp(prefix="lfs-churn.")
out = open(work + "/emu.out", "w+")
emu = subprocess.Popen(["/usr/bin/python3", ROOT + "/scripts/lightly_emulator.py", "--port", "0", "--token", TOKEN], stdout=out, stderr=subprocess.DEVNULL)
for _ in range(100):
    out.seek(0); t = out.read()
    if "port=" in t: url = "http://127.0.0.1:" + t.split("port=")[1].split()[0]; break
    time.sleep(0.1)
def api(m, p, b=None):
    r = urllib.request.Request(url + p + ("&" if "?" in p else "?") + "token=" + TOKEN, method=m, data=None if b is None else json.dumps(b).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(r) as f:
        d = f.read(); return json.loads(d) if d else None
ds = api("POST", "/v1/datasets", {"name": "churn"})["id"]
urllib.request.urlopen(urllib.request.Request(url + "/_emulator/datasets/%s/samples" % ds, data=json.dumps({"fileNames": ["s%02d.png" % i for i in range(40)]}).encode(), method="POST", headers={"Content-Type": "application/json"}))
init = api("POST", "/v1/datasets/%s/tags/initial" % ds, {"imgType": "full", "name": "initial-tag"})["id"]
mnt = work + "/mnt"; os.makedirs(mnt)
env = dict(os.environ, LIGHTLY_TOKEN=TOKEN, LIGHTLY_SERVER_LOCATION=url, XDG_STATE_HOME=work + "/st", XDG_CACHE_HOME=work + "/ca")
fs = subprocess.Popen([BIN, "-f", "-o", "cache_ttl=0.05", mnt], env=env, stderr=open(work + "/fs.log", "w"))
for _ in range(100):
    if os.path.ismount(mnt): break
    time.sleep(0.1)
def rss():
    for l in open("/proc/%d/status" % fs.pid):
        if l.startswith("VmRSS"): return int(l.split()[1])
def heap():
    return json.load(open(mnt + "/.lightly/stats"))["heapInUseBytes"] // 1024
os.listdir(mnt + "/churn")
base, hbase = rss(), heap(); print("start rss_kb", base, "heap_kb", hbase, flush=True)
for i in range(N):
    t = api("POST", "/v1/datasets/%s/tags" % ds, {"name": "t-%05d" % i, "prevTagId": init, "bitMaskData": "0x5", "totSize": 40})["id"]
    time.sleep(0.06); os.listdir(mnt + "/churn")
    api("DELETE", "/v1/datasets/%s/tags/%s" % (ds, t))
    time.sleep(0.06); os.listdir(mnt + "/churn")
    if (i + 1) % (N // 5) == 0:
        r, h = rss(), heap()
        print("tags %d rss_kb %d (+%.2f KB per tag) heap_kb %d (+%.2f KB per tag)" % (
            i + 1, r, (r - base) / (i + 1), h, (h - hbase) / (i + 1)), flush=True)
subprocess.run(["fusermount3", "-u", mnt]); fs.wait(); emu.terminate(); emu.wait()
subprocess.run(["rm", "-rf", "--one-file-system", work])
