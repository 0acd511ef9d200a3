#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<fuzzer>/ (standard library only; committed, so
this needs re-running only to change them). Small, valid (or nearly valid) inputs of each
format, so the fuzzers start past the magic numbers:  python3 fuzz/make_seeds.py"""
import io, json, os, struct, zipfile, zlib, shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")
SEP = b"\nDA3-NEXT-FILE\n"


def put(fuzzer, name, data):
    d = os.path.join(CORPUS, fuzzer)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- safetensors ---------------------------------------------------------------------------------
def safetensors(tensors, metadata=None, align=8):
    """tensors: [(name, dtype, shape, raw bytes)]"""
    header, data = {}, b""
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % align)
    return struct.pack("<Q", len(h)) + h + data


f32 = lambda *v: struct.pack("<%df" % len(v), *v)
st_small = safetensors([
    ("a.weight", "F32", [2, 3], f32(1, 2, 3, 4, 5, 6)),
    ("a.bias", "BF16", [2], b"\x80\x3f\x00\x40"),
    ("b.idx", "I64", [1], struct.pack("<q", 7)),
    ("c.mask", "BOOL", [3], b"\x01\x00\x01"),
    ("d.half", "F16", [1, 1], b"\x00\x3c"),
    ("e.empty", "F32", [0, 4], b""),
], metadata={"format": "pt", "a.alias": "a.weight"})
put("fuzz_safetensors", "small.safetensors", st_small)
put("fuzz_safetensors", "empty_header.safetensors", safetensors([]))
put("fuzz_safetensors", "types.safetensors", safetensors([
    ("u8", "U8", [4], b"\x01\x02\x03\x04"), ("i32", "I32", [2], struct.pack("<2i", -1, 5)),
    ("f64", "F64", [1], struct.pack("<d", 0.5)), ("scalar", "F32", [], f32(3.0))]))
put("fuzz_safetensors", "unaligned.safetensors", safetensors([("x", "F32", [1], f32(1))], align=1))
put("fuzz_safetensors", "short.safetensors", struct.pack("<Q", 100) + b"{}")
put("fuzz_safetensors", "tiny_mono_head.safetensors",
    open(os.path.join(ROOT, "tests/fixtures/tiny-mono/model.safetensors"), "rb").read()[:18000])

# --- config.json --------------------------------------------------------------------------------
configs = {}
for fx in ("tiny-mono", "tiny-anyview", "tiny-giant-like", "tiny-nested"):
    configs[fx] = open(os.path.join(ROOT, "tests/fixtures", fx, "config.json"), "rb").read()
    put("fuzz_config_json", fx + ".json", configs[fx])
for preset in ("da3-small", "da3-base", "da3-large", "da3-giant", "da3mono-large", "da3metric-large",
               "da3nested-giant-large"):
    put("fuzz_config_json", preset + ".json", json.dumps({"model_name": preset}).encode())
put("fuzz_config_json", "hf_style.json", json.dumps(
    {"model_name": "da3-small", "config": {"model_name": "da3-small"}, "_name_or_path": "x"}).encode())

# --- checkpoint directories (config SEP model.safetensors [SEP index SEP shards...]) -------------
put("fuzz_checkpoint", "single.bin", json.dumps({"model_name": "da3-small"}).encode() + SEP + st_small)
put("fuzz_checkpoint", "tiny_mono.bin", configs["tiny-mono"] + SEP + st_small)
shard0 = safetensors([("a.weight", "F32", [2], f32(1, 2))], metadata={"format": "pt"})
shard1 = safetensors([("b.weight", "F32", [1], f32(3))], metadata={"a.alias": "a.weight"})
index = json.dumps({"metadata": {"total_size": 12},
                    "weight_map": {"a.weight": "shard-0.safetensors", "b.weight": "shard-1.safetensors"}}).encode()
put("fuzz_checkpoint", "sharded.bin", configs["tiny-anyview"] + SEP + b"" + SEP + index + SEP + shard0 + SEP + shard1)

# --- image headers -------------------------------------------------------------------------------
def png(w, h, color_type=2, interlace=0):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, interlace)
    raw = b"".join(b"\x00" + b"\x80" * (w * 3) for _ in range(h))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")

def jpeg(w, h, sof=0xC0, eoi=True):
    seg = lambda m, d: bytes([0xFF, m]) + struct.pack(">H", len(d) + 2) + d
    out = b"\xff\xd8" + seg(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    out += seg(0xDB, b"\x00" + bytes(range(1, 65)))
    out += seg(sof, struct.pack(">BHHB", 8, h, w, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00")
    out += seg(0xC4, b"\x00" + b"\x01" + b"\x00" * 15 + b"\x00")
    out += seg(0xDA, b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00") + b"\x12\x34\xff\x00\x56"
    if sof == 0xC2:  # a second scan, as progressive files have
        out += seg(0xDA, b"\x01\x01\x00\x01\x05\x00") + b"\x78"
    return out + (b"\xff\xd9" if eoi else b"")

def bmp(w, h):
    return b"BM" + struct.pack("<IHHI", 54 + w * h * 3, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 0, 0, 0, 0) + b"\x00" * 16

def tiff(w, h, be=False):
    e = ">" if be else "<"
    head = (b"MM" if be else b"II") + struct.pack(e + "HI", 42, 8)
    entries = [(256, 4, 1, w), (257, 3, 1, h), (258, 3, 1, 8), (262, 3, 1, 2)]
    ifd = struct.pack(e + "H", len(entries))
    for tag, typ, cnt, val in entries:
        v = struct.pack(e + "I", val) if typ == 4 else struct.pack(e + "HH", val, 0)
        ifd += struct.pack(e + "HHI", tag, typ, cnt) + v
    return head + ifd + struct.pack(e + "I", 0)

def webp(kind, w, h):
    if kind == b"VP8 ":
        body = b"\x00\x00\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", w, h)
    elif kind == b"VP8L":
        bits = (w - 1) | ((h - 1) << 14)
        body = b"\x2f" + struct.pack("<I", bits)
    else:
        body = b"\x00\x00\x00\x00" + struct.pack("<I", w - 1)[:3] + struct.pack("<I", h - 1)[:3]
    chunk = kind + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk

put("fuzz_image_header", "rgb.png", png(4, 3))
put("fuzz_image_header", "interlaced.png", png(2, 2, interlace=1))
put("fuzz_image_header", "baseline.jpg", jpeg(64, 48))
put("fuzz_image_header", "progressive.jpg", jpeg(640, 480, sof=0xC2))
put("fuzz_image_header", "truncated.jpg", jpeg(64, 48, eoi=False))
put("fuzz_image_header", "huge_progressive.jpg", jpeg(65500, 65500, sof=0xC2))
put("fuzz_image_header", "rgb.bmp", bmp(4, 3))
put("fuzz_image_header", "topdown.bmp", bmp(4, -3 & 0xFFFFFFFF) if False else bmp(5, 7))
put("fuzz_image_header", "le.tiff", tiff(8, 6))
put("fuzz_image_header", "be.tiff", tiff(8, 6, be=True))
put("fuzz_image_header", "lossy.webp", webp(b"VP8 ", 30, 20))
put("fuzz_image_header", "lossless.webp", webp(b"VP8L", 30, 20))
put("fuzz_image_header", "extended.webp", webp(b"VP8X", 30, 20))
put("fuzz_image_header", "sample_head.png",
    open(os.path.join(ROOT, "assets/samples/view_0.png"), "rb").read()[:512])

# --- .npy / .npz ---------------------------------------------------------------------------------
def npy(descr, shape, raw, fortran=False, version=(1, 0)):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", "(" + "".join("%d, " % s for s in shape).rstrip(" ") + ")"
        if len(shape) != 1 else "(%d,)" % shape[0])
    if len(shape) > 1:
        d = d.replace(", )", ")")
    lenfmt = "<H" if version[0] == 1 else "<I"
    pre = 10 if version[0] == 1 else 12
    total = pre + len(d) + 1
    pad = (-total) % 64
    header = (d + " " * pad + "\n").encode()
    return b"\x93NUMPY" + bytes(version) + struct.pack(lenfmt, len(header)) + header + raw

def npz(members):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for name, data in members:
            # A fixed timestamp, so that re-running this script leaves the committed seeds alone.
            z.writestr(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), data)
    return b.getvalue()

def f32s(vals):
    return struct.pack("<%df" % len(vals), *vals)

def f64s(vals):
    return struct.pack("<%dd" % len(vals), *vals)

put("fuzz_npy", "f32.npy", npy("<f4", (2, 3), f32s(range(6))))
put("fuzz_npy", "f64.npy", npy("<f8", (2,), f64s([1.5, -2])))
put("fuzz_npy", "u8.npy", npy("|u1", (3,), b"\x01\x02\x03"))
put("fuzz_npy", "bool.npy", npy("|b1", (2, 1), b"\x01\x00"))
put("fuzz_npy", "i64.npy", npy("<i8", (1,), struct.pack("<q", 5)))
put("fuzz_npy", "i32_scalar.npy", npy("<i4", (), struct.pack("<i", 5)))
put("fuzz_npy", "big_endian.npy", npy(">f4", (1,), struct.pack(">f", 1)))
put("fuzz_npy", "fortran.npy", npy("<f4", (2, 2), f32s(range(4)), fortran=True))
put("fuzz_npy", "v2.npy", npy("<f4", (1,), f32s([1]), version=(2, 0)))

put("fuzz_npz", "two.npz", npz([("depth", npy("<f4", (1, 2, 2), f32s(range(4)))),
                                ("mask", npy("|b1", (2,), b"\x01\x00"))]))
put("fuzz_npz", "empty.npz", npz([]))

def eye4(t=(0, 0, 0)):
    return [1, 0, 0, t[0], 0, 1, 0, t[1], 0, 0, 1, t[2], 0, 0, 0, 1]

def K(f=20.0, c=14.0):
    return [f, 0, c, 0, f, c, 0, 0, 1]

def poses(n, rows=4, dtype="<f4", lead=False):
    ext, ixt = [], []
    for v in range(n):
        m = eye4((v * 0.5, (v % 3) * 0.25, v * v * 0.1))
        ext += m[:rows * 4]
        ixt += K(20 + v)
    pack = f32s if dtype == "<f4" else f64s
    es = (1, n, rows, 4) if lead else (n, rows, 4)
    ks = (1, n, 3, 3) if lead else (n, 3, 3)
    return npz([("extrinsics", npy(dtype, es, pack(ext))), ("intrinsics", npy(dtype, ks, pack(ixt)))])

for name, data in {"3views.npz": poses(3), "3views_3x4.npz": poses(3, rows=3), "4views_f64.npz": poses(4, dtype="<f8"),
                   "1view.npz": poses(1), "lead_dim.npz": poses(3, lead=True), "12views_ransac.npz": poses(12)}.items():
    put("fuzz_poses", name, data)
    put("fuzz_npz", "poses_" + name, data)

# --- da3 serve's request parts (fuzz_upload.cpp: byte 0 = multipart?, parts "NAME\nFILENAME\nCONTENT" split by "\n--\n")
def upload(parts, multipart=True):
    return bytes([1 if multipart else 0]) + b"\n--\n".join(n.encode() + b"\n" + f.encode() + b"\n" + c for n, f, c in parts)

for name, data in {
        "one_image.bin": upload([("images", "a.png", png(28, 28))]),
        "two_images_options.bin": upload([("images", "a.png", png(28, 28)), ("images", "a.png", jpeg(32, 24)),
                                          ("format", "", b"npz,glb"), ("process-res", "", b"504"),
                                          ("process_res_method", "", b"upper_bound_resize"), ("ray_pose", "", b"true"),
                                          ("ref_view", "", b"middle"), ("backend", "", b"sdpa"),
                                          ("conf_percentile", "", b"40"), ("max_points", "", b"100000")]),
        "poses.bin": upload([("images", "../../etc/x.png", png(28, 28)), ("images", ".hidden.png", png(28, 28)),
                             ("images", "", png(28, 28)), ("poses", "p.npz", poses(3))]),
        "not_multipart.bin": upload([("images", "a.png", png(28, 28))], multipart=False),
}.items():
    put("fuzz_upload", name, data)
