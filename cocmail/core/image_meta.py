"""Take the metadata out of images before they leave the team, without re-encoding them.

A phone photo carries where it was taken (EXIF GPS), when, the phone's make and serial,
sometimes the owner's name; a screenshot editor writes the account name into a PNG
text chunk. A reporter who sends the team a photo has not agreed to send the DSF their
home's coordinates. So every image in mail that leaves the team is rewritten here:

- JPEG: APP1 (EXIF, XMP), APP13 (IPTC), every other APPn but JFIF (APP0), the ICC colour
  profile (APP2 "ICC_PROFILE") and Adobe's colour transform (APP14), comments (COM), and
  anything after the end of the image (MPF second images, "motion photo" videos).
- PNG: only the chunks that draw the picture stay (IHDR, PLTE, IDAT, IEND, transparency,
  colour and animation chunks); eXIf, tEXt, zTXt, iTXt, tIME and unknown chunks go.
- WebP: only the chunks that draw the picture stay (EXIF, XMP and unknown chunks go),
  and VP8X stops announcing EXIF and XMP.
- GIF: comment and application extensions go, except the animation loop count.

The pixels are copied byte for byte (lossless; no image library at run time). A format
it cannot clean (HEIC, TIFF, anything unreadable) gets None: the caller leaves the image
out rather than send it as it is.
"""

from __future__ import annotations

import struct

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GIF_MAGICS = (b"GIF87a", b"GIF89a")

# APPn segments that only say how to draw the picture.
_JPEG_KEEP_APP = {0xE0: (b"JFIF\0", b"JFXX\0"), 0xE2: (b"ICC_PROFILE\0",), 0xEE: (b"Adobe",)}
_PNG_KEEP = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB",
                       b"iCCP", b"sBIT", b"bKGD", b"pHYs", b"hIST", b"acTL", b"fcTL", b"fdAT",
                       b"cICP", b"mDCv", b"cLLi"})
_GIF_KEEP_APP = (b"NETSCAPE2.0", b"ANIMEXTS1.0")
_WEBP_KEEP = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})


class _Bad(Exception):
    """The image is not what its first bytes say."""


def is_image(data: bytes) -> bool:
    """Does `data` start like an image cocmail knows how to clean?"""
    return (data.startswith(JPEG_MAGIC) or data.startswith(PNG_MAGIC) or _is_webp(data)
            or data[:6] in GIF_MAGICS)


def strip_metadata(data: bytes) -> bytes | None:
    """`data` without its metadata, pixels unchanged; None when it cannot be cleaned."""
    try:
        if data.startswith(JPEG_MAGIC):
            return _jpeg(data)
        if data.startswith(PNG_MAGIC):
            return _png(data)
        if _is_webp(data):
            return _webp(data)
        if data[:6] in GIF_MAGICS:
            return _gif(data)
    except (_Bad, struct.error, IndexError, ValueError):
        return None
    return None


def _is_webp(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def _jpeg(data: bytes) -> bytes:
    out = bytearray(data[:2])
    i = 2
    while i < len(data):
        if data[i] != 0xFF:
            raise _Bad("no marker")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:  # end of image: nothing after it is sent
            out += data[i:i + 2]
            return bytes(out)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
            out += data[i:i + 2]
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if length < 2 or i + 2 + length > len(data):
            raise _Bad("segment runs past the end")
        segment = data[i:i + 2 + length]
        i += 2 + length
        if marker == 0xDA:  # start of scan: the coded data runs to the next real marker
            end = _scan_end(data, i)
            out += segment + data[i:end]
            i = end
            continue
        if 0xE0 <= marker <= 0xEF:
            if not segment[4:].startswith(_JPEG_KEEP_APP.get(marker, (b"\xff\xff\xff",))):
                continue
        elif marker == 0xFE:  # comment
            continue
        out += segment
    raise _Bad("no end of image")


def _scan_end(data: bytes, i: int) -> int:
    """Where the entropy-coded data from `i` ends: the first 0xFF that is neither a
    stuffed byte (FF00) nor a restart marker (FFD0-FFD7)."""
    while True:
        i = data.index(b"\xff", i)
        nxt = data[i + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
            i += 1 if nxt == 0xFF else 2
            continue
        return i


def _png(data: bytes) -> bytes:
    out = bytearray(PNG_MAGIC)
    i = len(PNG_MAGIC)
    while i < len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind = data[i + 4:i + 8]
        end = i + 12 + length
        if end > len(data):
            raise _Bad("chunk runs past the end")
        if kind in _PNG_KEEP:
            out += data[i:end]
        i = end
        if kind == b"IEND":
            return bytes(out)
    raise _Bad("no IEND")


def _webp(data: bytes) -> bytes:
    chunks = bytearray()
    i = 12
    size = struct.unpack("<I", data[4:8])[0] + 8
    while i + 8 <= min(size, len(data)):
        kind = data[i:i + 4]
        (length,) = struct.unpack("<I", data[i + 4:i + 8])
        end = i + 8 + length + (length & 1)
        if i + 8 + length > len(data):
            raise _Bad("chunk runs past the end")
        chunk = bytearray(data[i:end])
        if kind == b"VP8X":
            chunk[8] &= ~0x0C & 0xFF  # no EXIF (0x08), no XMP (0x04) any more
        if kind in _WEBP_KEEP:
            chunks += chunk
        i = end
    return b"RIFF" + struct.pack("<I", len(chunks) + 4) + b"WEBP" + bytes(chunks)


def _gif(data: bytes) -> bytes:
    flags = data[10]
    i = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    out = bytearray(data[:i])
    while i < len(data):
        kind = data[i]
        if kind == 0x3B:  # trailer
            out.append(0x3B)
            return bytes(out)
        if kind == 0x2C:  # image: descriptor, local colour table, LZW size, sub-blocks
            local = data[i + 9]
            start = i
            i += 10 + (3 * 2 ** ((local & 7) + 1) if local & 0x80 else 0) + 1
            i = _sub_blocks_end(data, i)
            out += data[start:i]
        elif kind == 0x21:
            label, start = data[i + 1], i
            i = _sub_blocks_end(data, i + 2)
            if label == 0xFE:
                continue
            if label == 0xFF and data[start + 3:start + 14] not in _GIF_KEEP_APP:
                continue
            out += data[start:i]
        else:
            raise _Bad("unknown GIF block")
    raise _Bad("no trailer")


def _sub_blocks_end(data: bytes, i: int) -> int:
    while True:
        n = data[i]
        i += 1 + n
        if n == 0:
            return i
        if i > len(data):
            raise _Bad("sub-block runs past the end")
