#!/usr/bin/env python3
"""An image sequence for stream measurements: a camera panning over a texture, 1 px a frame.

    python3 tools/stream/make_pan_sequence.py OUT_DIR [--frames 1000] [--width 160] [--height 120]

Writes OUT_DIR/frame_0.png ... frame_<N-1>.png (8-bit RGB PNG, standard library only), the
input of the 100- and 1000-frame `da3 infer --stream` runs in docs/perf.md ("Streaming").
"""
import argparse
import struct
import zlib
from pathlib import Path


def write_png(path: Path, width: int, height: int, rows: list) -> None:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + r for r in rows)  # filter type 0 per row
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--height", type=int, default=120)
    a = ap.parse_args()
    a.out_dir.mkdir(parents=True, exist_ok=True)
    tex_w = a.width + a.frames
    texture = []
    for y in range(a.height):
        row = bytearray()
        for u in range(tex_w):
            row += bytes(((u * 37 + y * 11) % 256, (y * 23 + u * 5) % 256, ((u // 8 + y // 8) % 2) * 200))
        texture.append(bytes(row))
    for i in range(a.frames):
        write_png(a.out_dir / f"frame_{i}.png", a.width, a.height, [r[3 * i:3 * (i + a.width)] for r in texture])


if __name__ == "__main__":
    main()
