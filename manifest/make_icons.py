"""Draw the two Teams app icons as PNG files, with the standard library only.

    python -m manifest.make_icons

rewrites `manifest/color.png` (192x192, full colour) and `manifest/outline.png` (32x32, white on
transparent). Both are committed; the pack step only copies them. The output is deterministic,
so running this again without changes gives the same bytes.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent

TEAL = (14, 124, 123)  # #0E7C7B, also the manifest's accentColor
WHITE = (255, 255, 255)

Shape = Callable[[float, float], bool]
RGBA = tuple[int, int, int, int]


def rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float) -> Shape:
    def inside(x: float, y: float) -> bool:
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            return False
        cx = min(max(x, x0 + r), x1 - r)
        cy = min(max(y, y0 + r), y1 - r)
        return (x - cx) ** 2 + (y - cy) ** 2 <= r * r

    return inside


def circle(cx: float, cy: float, r: float) -> Shape:
    return lambda x, y: (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def triangle(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> Shape:
    def side(p: tuple[float, float], q: tuple[float, float], x: float, y: float) -> float:
        return (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0])

    def inside(x: float, y: float) -> bool:
        d1, d2, d3 = side(a, b, x, y), side(b, c, x, y), side(c, a, x, y)
        return (d1 >= 0 and d2 >= 0 and d3 >= 0) or (d1 <= 0 and d2 <= 0 and d3 <= 0)

    return inside


def coverage(shape: Shape, x: int, y: int, n: int = 4) -> float:
    """Fraction of pixel (x, y) covered by `shape`, from n*n samples (anti-aliasing)."""
    hits = sum(shape(x + (i + 0.5) / n, y + (j + 0.5) / n) for i in range(n) for j in range(n))
    return hits / (n * n)


def png(width: int, height: int, pixels: list[list[RGBA]]) -> bytes:
    """Encode 8-bit RGBA rows as a PNG (colour type 6, filter type 0 on every row)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in pixels)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def color_icon() -> bytes:
    """Teal rounded square with a white speech bubble holding three teal dots."""
    size = 192
    tile = rounded_rect(0, 0, size, size, 40)
    bubble_body = rounded_rect(40, 46, 152, 128, 24)
    bubble_tail = triangle((58, 118), (94, 118), (50, 152))
    dots = [circle(cx, 87, 9.5) for cx in (70, 96, 122)]

    def bubble(x: float, y: float) -> bool:
        return bubble_body(x, y) or bubble_tail(x, y)

    def dot(x: float, y: float) -> bool:
        return any(d(x, y) for d in dots)

    rows: list[list[RGBA]] = []
    for y in range(size):
        row: list[RGBA] = []
        for x in range(size):
            alpha = coverage(tile, x, y)
            white = coverage(lambda u, v: bubble(u, v) and not dot(u, v), x, y)
            rgb = tuple(round(t + (w - t) * white) for t, w in zip(TEAL, WHITE, strict=True))
            row.append((rgb[0], rgb[1], rgb[2], round(255 * alpha)))
        rows.append(row)
    return png(size, size, rows)


def outline_icon() -> bytes:
    """White speech-bubble outline with three dots; every pixel is white, only alpha varies."""
    size = 32
    outer = rounded_rect(1, 3, 31, 24, 6)
    inner = rounded_rect(3, 5, 29, 22, 4)
    tail = triangle((6, 22), (13, 22), (4, 30))
    dots = [circle(cx, 14, 2) for cx in (10, 16, 22)]

    def shape(x: float, y: float) -> bool:
        ring = outer(x, y) and not inner(x, y)
        return ring or (tail(x, y) and not inner(x, y)) or any(d(x, y) for d in dots)

    rows = [
        [(*WHITE, round(255 * coverage(shape, x, y))) for x in range(size)] for y in range(size)
    ]
    return png(size, size, rows)


def main() -> None:
    (HERE / "color.png").write_bytes(color_icon())
    (HERE / "outline.png").write_bytes(outline_icon())
    print(f"wrote {HERE / 'color.png'} and {HERE / 'outline.png'}")


if __name__ == "__main__":
    main()
