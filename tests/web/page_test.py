#!/usr/bin/env python3
"""The `da3 serve` web page in a real headless Chromium (docs/server.md, "The web page").

Starts `da3 serve` on a free loopback port and chromedriver, then through the W3C WebDriver
protocol (plain HTTP + JSON: standard library only): loads the page, checks no console error,
uploads three sample images through the page's file input, presses Run, waits for the task,
checks every depth image decoded and the 3D view drew the scene (a screenshot of the viewer
element, decoded here, must hold enough non-background pixels) and the download list names the
task's files. Exit 77 (ctest: skipped) with a message where Chromium, chromedriver or WebGL is
missing; 0 on success; 1 on a failure.

  tests/web/page_test.py --da3 build/release/da3 --model tests/fixtures/tiny-anyview \\
      --images assets/samples/view_*.png [--screenshot out.png]
"""
import argparse
import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib

SKIP = 77


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method, path, body=None):
        url = self.base + (f"/session/{self.session}" if self.session else "") + path
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"WebDriver {method} {path}: {e.code} {e.read()[:500]!r}")

    def js(self, script, *args):
        return self.call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        el = self.call("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(el.values()))


def decode_png_rgb(png):
    """8-bit RGB/RGBA non-interlaced PNG (what Chromium's screenshots are) -> (w, h, rows of pixels)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    at, idat, w = 8, b"", 0
    while at < len(png):
        n, kind = struct.unpack(">I4s", png[at:at + 8])
        data = png[at + 8:at + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", data)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, f"unexpected PNG {depth} {ctype}"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += data
        at += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--da3", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--images", nargs="+", required=True)
    ap.add_argument("--screenshot", help="also save the page's screenshot here")
    a = ap.parse_args()

    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        print("SKIP: Chromium or chromedriver not installed (Debian: apt-get install chromium chromium-driver)")
        return SKIP

    srv = subprocess.Popen([a.da3, "serve", "-m", a.model, "--port", "0"], stderr=subprocess.PIPE, text=True)
    port = None
    for line in srv.stderr:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if m:
            port = int(m.group(1))
            break
    dport = free_port()
    drv = subprocess.Popen([driver, f"--port={dport}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    profile = tempfile.mkdtemp(prefix="da3-page-test-")
    wd = WebDriver(dport)
    try:
        if not port:
            print("FAIL: da3 serve did not start")
            return 1
        for _ in range(100):  # chromedriver up?
            try:
                urllib.request.urlopen(wd.base + "/status", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--enable-unsafe-swiftshader",
                "--use-gl=angle", "--use-angle=swiftshader", "--window-size=1280,1600", f"--user-data-dir={profile}"]}}}}
        wd.session = wd.call("POST", "/session", caps)["sessionId"]
        wd.call("POST", "/url", {"url": f"http://127.0.0.1:{port}/"})
        if not wd.js("const c = document.createElement('canvas'); return !!(c.getContext('webgl') || c.getContext('experimental-webgl'));"):
            print("SKIP: this Chromium has no WebGL (headless, --enable-unsafe-swiftshader)")
            return SKIP
        # The page is up and talked to the server (the status line names the model).
        deadline = time.time() + 20
        while "·" not in wd.js("return document.getElementById('model').textContent;") and time.time() < deadline:
            time.sleep(0.1)
        model_line = wd.js("return document.getElementById('model').textContent;")
        assert "·" in model_line, f"status never shown: {model_line!r}"

        # Upload through the page's own file input (made visible so WebDriver may type into it).
        wd.js("document.getElementById('files').hidden = false;")
        wd.call("POST", f"/element/{wd.find('#files')}/value",
                {"text": "\n".join(os.path.abspath(p) for p in a.images)})
        wd.js("document.getElementById('process_res').value = '140';")
        wd.call("POST", f"/element/{wd.find('#run')}/click", {})
        deadline = time.time() + 90
        while time.time() < deadline:
            msg = wd.js("return document.getElementById('message').textContent;")
            if msg.startswith("Done") or msg.startswith("Failed"):
                break
            time.sleep(0.2)
        assert msg.startswith("Done"), f"the page's task did not finish: {msg!r}"
        # The 3D view is filled asynchronously after "Done": wait for its ready mark.
        deadline = time.time() + 30
        while not wd.js("return document.getElementById('scene').dataset.ready === '1';") and time.time() < deadline:
            time.sleep(0.2)
        assert wd.js("return document.getElementById('scene').dataset.ready === '1';"), "3D scene never drawn"
        time.sleep(0.5)  # a few animation frames

        depth = wd.js("return Array.from(document.querySelectorAll('img.depth')).map(i => [i.complete, i.naturalWidth]);")
        assert len(depth) == len(a.images) and all(c and w > 0 for c, w in depth), f"depth images: {depth}"
        links = wd.js("return Array.from(document.querySelectorAll('#downloads a')).map(a => a.textContent);")
        assert "scene.glb" in links and "results.npz" in links, f"downloads: {links}"

        shot = base64.b64decode(wd.call("GET", f"/element/{wd.find('#scene canvas')}/screenshot"))
        w, h, rows = decode_png_rgb(shot)
        background = (0x11, 0x11, 0x11)
        drawn = sum(1 for row in rows for p in row if max(abs(p[i] - background[i]) for i in range(3)) > 24)
        colours = len({p for row in rows for p in row})
        print(f"3D view {w}x{h}: {drawn} pixels drawn, {colours} colours")
        assert drawn > 500 and colours > 20, "the 3D view is blank"
        if a.screenshot:
            with open(a.screenshot, "wb") as f:
                f.write(base64.b64decode(wd.call("GET", "/screenshot")))

        logs = wd.call("POST", "/se/log", {"type": "browser"})
        errors = [e for e in logs if e.get("level") == "SEVERE"]
        assert not errors, f"console errors: {errors}"
        print(f"PASS: {len(a.images)} views uploaded through the page, depth shown, 3D drawn, {len(links)} downloads listed")
        return 0
    except (AssertionError, RuntimeError) as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        try:
            if wd.session:
                wd.call("DELETE", "")
        except Exception:
            pass
        drv.terminate()
        drv.wait(timeout=30)
        srv.terminate()
        srv.wait(timeout=60)
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
