#!/usr/bin/env python3
"""Writes the demo's sample images, assets/samples/view_{0,1,2}.png: a small ray-traced scene
(checkered ground, two spheres, a box-like wall, sky gradient) seen from three nearby cameras,
so `make demo` has multi-view input the project may redistribute. Standard library only."""
import math, os, struct, zlib

W, H = 320, 240

def png(path, rows):
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)

SPHERES = [((-0.8, 0.6, 5.0), 0.6, (220, 80, 60)), ((1.0, 0.9, 7.0), 0.9, (70, 130, 220))]
LIGHT = (-0.4, 0.8, -0.45)

def shade(o, d):
    best, hit = 1e9, None
    for c, r, col in SPHERES:
        oc = [o[i] - c[i] for i in range(3)]
        b = sum(oc[i] * d[i] for i in range(3))
        disc = b * b - (sum(x * x for x in oc) - r * r)
        if disc > 0:
            t = -b - math.sqrt(disc)
            if 1e-3 < t < best:
                p = [o[i] + t * d[i] for i in range(3)]
                n = [(p[i] - c[i]) / r for i in range(3)]
                best, hit = t, (col, n)
    if d[2] > 1e-6:  # back wall at z = 11
        t = (11.0 - o[2]) / d[2]
        if t < best:
            p = [o[i] + t * d[i] for i in range(3)]
            if p[1] < 2.5:
                stripe = 200 if int(math.floor(p[0] * 2)) % 2 == 0 else 170
                best, hit = t, ((stripe, stripe - 20, stripe - 50), (0, 0, -1))
    if d[1] < -1e-6:  # ground y = 0
        t = -o[1] / d[1]
        if t < best:
            p = [o[i] + t * d[i] for i in range(3)]
            chk = (int(math.floor(p[0])) + int(math.floor(p[2]))) % 2
            best, hit = t, ((150, 150, 150) if chk else (60, 90, 60), (0, 1, 0))
    if hit is None:  # sky, lighter towards the horizon
        k = max(0.0, d[1])
        return (int(170 - 90 * k), int(200 - 70 * k), 255)
    col, n = hit
    ln = math.sqrt(sum(x * x for x in LIGHT))
    lam = max(0.0, sum(n[i] * LIGHT[i] for i in range(3)) / ln)
    s = 0.35 + 0.65 * lam
    return tuple(min(255, int(c * s)) for c in col)

def render(cam_x, yaw):
    f = 0.9 * W
    rows = []
    for v in range(H):
        row = []
        for u in range(W):
            x, y = (u + 0.5 - W / 2) / f, -(v + 0.5 - H / 2) / f
            dx = x * math.cos(yaw) + math.sin(yaw)
            dz = -x * math.sin(yaw) + math.cos(yaw)
            n = math.sqrt(dx * dx + y * y + dz * dz)
            row.extend(shade((cam_x, 1.2, 0.0), (dx / n, y / n, dz / n)))
        rows.append(row)
    return rows

if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "samples")
    os.makedirs(out, exist_ok=True)
    for i, (cx, yaw) in enumerate([(-0.4, 0.06), (0.0, 0.0), (0.4, -0.06)]):
        png(os.path.join(out, "view_%d.png" % i), render(cx, yaw))
