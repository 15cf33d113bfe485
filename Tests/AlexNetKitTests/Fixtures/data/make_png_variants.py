"""Writes the PNG variants read by Tests/AlexNetKitTests/Data/ImageDecoderTests.swift: gray 8-bit,
gray 16-bit, palette, RGBA with transparency and RGB 16-bit, each 3x2 pixels with known values.

Run once with Pillow and numpy (e.g. /tmp/venv/bin/pip install pillow numpy):
    python make_png_variants.py
"""
import pathlib

import numpy as np
from PIL import Image

here = pathlib.Path(__file__).parent
gray = np.array([[0, 64, 128], [192, 255, 10]], dtype=np.uint8)
Image.fromarray(gray, "L").save(here / "gray8.png")
Image.frombytes("I;16", (3, 2), (gray.astype("<u2") * 257).tobytes()).save(here / "gray16.png")
palette = Image.new("P", (3, 2))
palette.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
palette.putdata([0, 1, 2, 2, 1, 0])
palette.save(here / "palette.png")
rgba = np.zeros((2, 3, 4), dtype=np.uint8)
rgba[..., 0] = 200; rgba[..., 1] = 100; rgba[..., 2] = 50
rgba[..., 3] = [[255, 0, 255], [255, 255, 0]]  # two fully transparent pixels
Image.fromarray(rgba, "RGBA").save(here / "rgba.png")
# 16-bit RGB through PNG's own encoder (Pillow cannot write 16-bit RGB): write raw chunks.
import struct, zlib
rgb16 = np.array([[[65535, 0, 32896], [257, 514, 771], [0, 65535, 0]],
                  [[1000, 2000, 3000], [65535, 65535, 65535], [12850, 25700, 38550]]], dtype=">u2")
raw = b"".join(b"\x00" + row.tobytes() for row in rgb16)
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 3, 2, 16, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
(here / "rgb16.png").write_bytes(png)
