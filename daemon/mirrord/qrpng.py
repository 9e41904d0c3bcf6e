"""A page's QR code as a small PNG: a pure function of its URL.

The symbol comes from zxing-cpp (normal QR, error correction M, the smallest version that holds the URL, the
mask the standard's penalty rules pick), the PNG is written here: one bit per pixel, black on white, each
module 3 pixels wide, 2 modules of white around. segno, which wrote these files before, spent 4-5 ms of CPU
on each code in its pure-Python mask scoring, more than the rest of an article's work; zxing-cpp does it in
C++ in a few hundredths of that. Pages published before keep their PNG (a page is rendered once, when it
is published), so codes from either encoder live side by side; both scan to the page's URL.
"""

from __future__ import annotations

import struct
import zlib

SCALE = 3  # pixels per module
BORDER = 2  # modules of white around the symbol
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# A module's pixels as PNG bits (0 black, 1 white), for str.translate over its grey level (zxing-cpp: 0 or 255).
MODULE_BITS = {level: ("0" if level < 128 else "1") * SCALE for level in range(256)}


def qr_png(url: str) -> bytes:
    """Return the PNG of a normal (not micro) QR code for url, error correction level M."""
    return png_of(symbol_rows(url))


def symbol_rows(url: str) -> list[bytes]:
    """Return the symbol's rows, one grey level a module (0 dark, 255 light), without the quiet zone."""
    import zxingcpp  # loaded when a page is rendered with a QR code, not by every command

    symbol = zxingcpp.create_barcode(url, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = symbol.to_image(scale=1, add_quiet_zones=False)
    height, width = image.shape
    pixels = bytes(memoryview(image))
    return [pixels[row * width:(row + 1) * width] for row in range(height)]


def png_of(rows: list[bytes]) -> bytes:
    """Return a 1-bit greyscale PNG of a square symbol's rows, each module SCALE pixels wide, within BORDER
    modules of white."""
    size = (len(rows) + 2 * BORDER) * SCALE
    margin, padding = "1" * BORDER * SCALE, "1" * (-size % 8)
    white = scanline("1" * size + padding)
    lines = [scanline(margin + row.decode("latin-1").translate(MODULE_BITS) + margin + padding) for row in rows]
    image = [white] * (BORDER * SCALE) + [line for line in lines for _ in range(SCALE)] + [white] * (BORDER * SCALE)
    header = struct.pack(">IIBBBBB", size, size, 1, 0, 0, 0, 0)  # 1 bit, greyscale, deflate, no interlace
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(image))) + chunk(b"IEND", b"")


def scanline(bits: str) -> bytes:
    """Return a PNG scanline of a string of bits: filter type 0 (none), then the bits packed, first bit highest."""
    return b"\x00" + int(bits, 2).to_bytes(len(bits) // 8, "big")


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
