#!/usr/bin/env python3
"""Load test for `da3 serve` (docs/server.md, "Load"): starts the server, sends N requests from C
concurrent clients, checks every one is answered (a finished task, or 503 with Retry-After when
the queue is full; the client then waits --backoff seconds), and reports the server's RSS after the first 20 and after all requests.

Each request is one scene: POST /v1/inference (the images, format npz,depth_png), polled until
done, results.npz downloaded, the task deleted; every 4th request is a POST /v1/depth instead.
Standard library only. Exit status 0 when every request was answered, the server is alive at the
end and exits 0 on SIGTERM, and RSS grew by at most --max-growth (default 10 %).

  tools/server/load_test.py --da3 build/release/da3 --model tests/fixtures/tiny-anyview
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid


def multipart(parts):
    """parts: (name, filename or None, bytes). Returns (body, content type)."""
    boundary = uuid.uuid4().hex
    out = []
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out.append(f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def request(base, method, path, body=None, ctype=None):
    req = urllib.request.Request(base + path, data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--da3", default="build/release/da3")
    ap.add_argument("--model", default="tests/fixtures/tiny-anyview")
    ap.add_argument("--images", nargs="+", default=["assets/samples/view_0.png", "assets/samples/view_1.png"])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--process-res", default="504")
    ap.add_argument("--max-queue", default="4", help="server's --max-queue (small, so that 503s happen)")
    ap.add_argument("--backoff", type=float, default=0.5, help="seconds a client waits after a 503")
    ap.add_argument("--max-growth", type=float, default=0.10)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds for the whole run")
    a = ap.parse_args()

    images = [(os.path.basename(p), open(p, "rb").read()) for p in a.images]
    srv = subprocess.Popen([a.da3, "serve", "-m", a.model, "--port", "0", "--max-queue", a.max_queue],
                           stderr=subprocess.PIPE, text=True)
    port = None
    for line in srv.stderr:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if m:
            port = int(m.group(1))
            break
    if not port:
        print("server did not start", file=sys.stderr)
        return 1
    threading.Thread(target=lambda: [None for _ in srv.stderr], daemon=True).start()  # drain
    base = f"http://127.0.0.1:{port}"

    lock = threading.Lock()
    counts = {"done": 0, "depth": 0, "503": 0, "other": 0}
    errors = []
    finished = [0]
    rss = {}
    next_index = [0]
    deadline = time.monotonic() + a.timeout

    def one(i):
        if i % 4 == 3:
            body, ctype = multipart([("images", images[0][0], images[0][1]),
                                     ("process_res", None, a.process_res.encode())])
            st, hd, data = request(base, "POST", "/v1/depth", body, ctype)
            if st == 200 and data[:4] == b"\x89PNG":
                return "depth"
        else:
            parts = [("images", n, d) for n, d in images]
            parts += [("format", None, b"npz,depth_png"), ("process-res", None, a.process_res.encode())]
            body, ctype = multipart(parts)
            st, hd, data = request(base, "POST", "/v1/inference", body, ctype)
            if st == 202:
                tid = json.loads(data)["id"]
                while True:
                    s, _, d = request(base, "GET", f"/v1/tasks/{tid}")
                    t = json.loads(d)
                    if t["state"] in ("done", "failed"):
                        break
                    time.sleep(0.02)
                if t["state"] != "done":
                    return f"task failed: {t}"
                s, _, npz = request(base, "GET", f"/v1/tasks/{tid}/files/results.npz")
                d, _, _ = request(base, "DELETE", f"/v1/tasks/{tid}")
                return "done" if s == 200 and npz[:2] == b"PK" and d == 204 else f"download {s} delete {d}"
        if st == 503 and "Retry-After" in hd and json.loads(data)["error"]["code"] == "queue_full":
            time.sleep(a.backoff)  # a polite client waits before its next request (not retried)
            return "503"
        return f"HTTP {st}: {data[:200]!r}"

    def client():
        while time.monotonic() < deadline:
            with lock:
                i = next_index[0]
                if i >= a.requests:
                    return
                next_index[0] += 1
            try:
                r = one(i)
            except Exception as e:  # a dropped connection, a timeout: the server failed this one
                r = f"exception: {e!r}"
            with lock:
                if r in counts:
                    counts[r] += 1
                else:
                    counts["other"] += 1
                    errors.append(r)
                finished[0] += 1
                if finished[0] == 20:
                    rss["after_20"] = rss_kb(srv.pid)
                if finished[0] == a.requests:
                    rss["after_all"] = rss_kb(srv.pid)

    t0 = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    alive = request(base, "GET", "/healthz")[0] == 200
    status = json.loads(request(base, "GET", "/v1/status")[2])
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(timeout=120)

    growth = rss.get("after_all", 0) / max(rss.get("after_20", 1), 1) - 1
    report = {"requests": a.requests, "clients": a.clients, "answered": finished[0], "counts": counts,
              "wall_s": round(wall, 1), "rss_kb_after_20": rss.get("after_20"), "rss_kb_after_all": rss.get("after_all"),
              "rss_growth": round(growth, 4), "peak_rss_kb": status["memory"]["peak_rss_bytes"] // 1024,
              "alive_at_end": alive, "exit_code_on_sigterm": rc, "errors": errors[:5]}
    print(json.dumps(report, indent=2))
    ok = finished[0] == a.requests and not errors and alive and rc == 0 and growth <= a.max_growth
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
