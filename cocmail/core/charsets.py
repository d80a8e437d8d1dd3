"""Bytes -> text as their writer meant it: the declared charset, read leniently.

Mail in the wild declares charsets that are narrower than what the client really wrote
(GB2312 for GBK text, Shift_JIS for Windows' CP932, ISO-2022-JP with NEC or JIS X 0213
characters, Big5 with HKSCS, ISO-8859-1 for Windows-1252), mislabels UTF-8, or holds one
bad byte in an otherwise good part. Reading such a part strictly and, on the first error,
the whole part in another charset turns a whole report into mojibake. Here instead:

1. the superset codecs Python ships are tried for the declared charset, then the
   charset itself (SUPERSETS);
2. UTF-8 is tried before a single-byte charset (valid multi-byte UTF-8 is almost never
   real Latin-1 or KOI8 text), and after a multi-byte one (GB18030 decodes UTF-8 bytes
   "successfully" as nonsense, so what the writer declared wins there);
3. when nothing decodes cleanly, the declared charset is used with a replacement
   character for each bad byte: one character lost, not the part. UTF-8 (said, or
   guessed) keeps Windows-1252 letters pasted into it ("Äußeres" beside "=C3=BC"), and
   a part labelled UTF-8 without one UTF-8 character in it is read as Windows-1252.

UTF-16 and UTF-32 are read by their BOM, else by where the NULs sit (English text in
them is ASCII bytes and NULs, which must not pass for ASCII); UTF-7 and HZ are 7-bit
charsets whose text is decoded, not shown as the ASCII it is made of.

Pure and small; message.py calls `decode_text` for bodies and `decode_8bit` for raw
header bytes.
"""

from __future__ import annotations

import codecs
import re

# Declared charset -> the codecs clients really mean by it, tried before the declared one.
# Names are looked up lower-cased.
SUPERSETS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",), "gbk": ("gb18030",), "x-gbk": ("gb18030",),
    "cp936": ("gb18030",), "euc-cn": ("gb18030",), "csgb2312": ("gb18030",),
    "gb_2312-80": ("gb18030",), "chinese": ("gb18030",),
    "big5": ("big5hkscs", "cp950"), "x-x-big5": ("big5hkscs", "cp950"),
    "cn-big5": ("big5hkscs", "cp950"), "big5-hkscs": ("big5hkscs",),
    "shift_jis": ("cp932", "shift_jis_2004"), "shift-jis": ("cp932", "shift_jis_2004"),
    "sjis": ("cp932", "shift_jis_2004"), "x-sjis": ("cp932", "shift_jis_2004"),
    "ms_kanji": ("cp932",), "windows-31j": ("cp932",), "csshiftjis": ("cp932",),
    "euc-jp": ("euc_jp", "euc_jis_2004"), "x-euc-jp": ("euc_jp", "euc_jis_2004"),
    "iso-2022-jp": ("iso2022_jp_2004", "iso2022_jp_ext", "iso2022_jp_2"),
    "csiso2022jp": ("iso2022_jp_2004", "iso2022_jp_ext", "iso2022_jp_2"),
    "ks_c_5601-1987": ("cp949",), "ks_c_5601": ("cp949",), "euc-kr": ("cp949",),
    "korean": ("cp949",), "iso-2022-kr": ("iso2022_kr",),
    "iso-8859-1": ("cp1252",), "latin1": ("cp1252",), "latin-1": ("cp1252",),
    "iso8859-1": ("cp1252",), "us-ascii": ("cp1252",), "ascii": ("cp1252",),
    "iso-8859-9": ("cp1254",), "iso-8859-11": ("cp874",), "tis-620": ("cp874",),
    "windows-874": ("cp874",), "unicode-1-1-utf-7": ("utf-7",), "utf8": ("utf-8",),
}
# Charsets in which any byte string may decode: what was declared is believed first.
_MULTIBYTE = frozenset({"gb18030", "big5hkscs", "cp950", "cp932", "shift_jis_2004",
                        "euc_jp", "euc_jis_2004", "cp949", "iso2022_jp", "iso2022_jp_ext",
                        "iso2022_jp_2004", "iso2022_jp_2", "iso2022_kr", "utf-16", "utf-32",
                        "gbk", "gb2312", "big5", "shift_jis", "euc_kr", "hz"})
# Charsets whose text is all 7-bit bytes that mean something else in ASCII (UTF-7's
# "+AOk-", HZ's "~{...~}"): 7-bit data in them is decoded, not shown as it came.
_SEVEN_BIT = frozenset({"utf-7", "hz"})
# Two or four bytes a character: English text in them is ASCII bytes and NULs.
_WIDE = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})
_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_ISO2022_ESCAPE = re.compile(rb"\x1b[$(][@ABDIJ]")
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""",
                           re.IGNORECASE)


def _codec(name: str) -> str | None:
    """Python's codec name for `name`, or None when Python has no such codec."""
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    # Not base64, zlib, rot13...: a charset names a text encoding, nothing else.
    return info.name if getattr(info, "_is_text_encoding", True) else None


def codecs_for(declared: str | None) -> tuple[str, ...]:
    """The codecs to try for a declared charset, its superset first (may be empty)."""
    if not declared:
        return ()
    label = declared.strip().strip("\"'").lower()[:40]
    if label not in SUPERSETS and _codec(label) is None:
        label = _respell(label)
    names = (*SUPERSETS.get(label, ()), label)  # what clients really write comes first
    found = [c for c in (_codec(n) for n in names) if c]
    return tuple(dict.fromkeys(found))


# Labels clients write that Python does not know, as the charset they mean (Outlook's
# "unicode" is UTF-16LE; Hebrew's "-i" and "-e" say only which way the text runs).
RESPELT: dict[str, str] = {
    "unicode": "utf-16-le", "unicodefffe": "utf-16-be", "ucs-2": "utf-16",
    "iso-10646-ucs-2": "utf-16", "x-iso-10646-ucs-2-le": "utf-16-le",
    "x-iso-10646-ucs-2-be": "utf-16-be", "utf8mb4": "utf-8", "utf8mb3": "utf-8",
    "x-unicode20utf8": "utf-8", "x-user-defined": "cp1252", "koi8-ru": "koi8-u",
    "windows-949": "cp949", "x-windows-949": "cp949", "gb_2312": "gb2312",
    "_iso-2022-jp$esc": "iso-2022-jp", "_iso-2022-jp$sio": "iso-2022-jp",
    "iso-2022-jp-ms": "iso-2022-jp", "_autodetect_all": "", "_autodetect": "",
}
_RESPELL = ((re.compile(r"^(?:3d)+"), ""),  # "=3Dutf-8": a quoted-printable slip
            (re.compile(r"^iso-?8859-(\d+)-[ie]$"), r"iso-8859-\1"),
            (re.compile(r"^(?:iso-?)?8859-?(\d+)$"), r"iso-8859-\1"),
            (re.compile(r"^x-mac-"), "mac-"), (re.compile(r"^(?:x-)?(?:win|cp)-(\d+)$"), r"cp\1"),
            (re.compile(r"^x-cp-?(\d+)$"), r"cp\1"), (re.compile(r"^latin-(\d+)$"), r"latin\1"),
            (re.compile(r"^x-"), ""))


def _respell(label: str) -> str:
    """An unknown label as one Python knows, if one of the usual misspellings fits."""
    if label in RESPELT:
        return RESPELT[label]
    for pattern, repl in _RESPELL:
        spelt = pattern.sub(repl, label)
        if spelt != label and (spelt in SUPERSETS or spelt in RESPELT or _codec(spelt)):
            return RESPELT.get(spelt, spelt)
    return label


def decode_text(data: bytes, declared: str | None) -> str:
    """`data` as text: see the module docstring for the order. Never raises."""
    chain = codecs_for(declared)
    if chain and chain[0] in _WIDE:
        wide = _wide_text(data, chain[0])
        if wide is not None:
            return wide
        chain = chain[1:]  # no BOM and no NUL: not UTF-16/32 whatever the label says
    if data.isascii() and b"\x1b" not in data and not (chain and chain[0] in _SEVEN_BIT):
        return data.decode("ascii")
    if not chain and _ISO2022_ESCAPE.search(data):
        chain = codecs_for("iso-2022-jp")  # JIS text with no charset said
    lenient = chain[0] if chain else None
    if data.isascii():
        pass  # 7-bit (ISO-2022) text: UTF-8 would "decode" it with its escapes showing
    elif not chain or chain[0] not in _MULTIBYTE:
        chain = ("utf-8", *chain)
    else:
        chain = (*chain, "utf-8")
    for codec in chain:
        try:
            return data.decode(codec)
        except (UnicodeError, LookupError):
            continue
    if lenient in _SEVEN_BIT and data.isascii():
        return data.decode("ascii")  # "1+1=2" labelled UTF-7 is plain text, not a bad word
    if lenient is None:  # no charset said, or one Python does not know
        lenient = "utf-8" if _mostly_utf8(data) else "cp1252"
    if lenient == "utf-8":  # said or guessed: Latin-1 letters pasted into it are kept
        text = data.decode("utf-8", "replace")
        bad = text.count("\ufffd")
        if len(text) - len(text.encode("ascii", "ignore")) == bad:
            lenient = "cp1252"  # not one UTF-8 character: Windows-1252 labelled UTF-8
        elif bad <= _MAX_BAD_BYTES:
            return data.decode("utf-8", _LATIN_IN_UTF8)
        else:
            return text
    try:
        return data.decode(lenient, "replace")
    except (UnicodeError, LookupError):  # a codec that cannot resynchronise
        return data.decode("utf-8", "replace")


def _wide_text(data: bytes, codec: str) -> str | None:
    """UTF-16/32 text, its byte order from the BOM, the label or where the NULs sit
    (English text without a BOM is every other byte NUL); None when `data` holds
    neither a BOM nor a NUL, so cannot be such text."""
    if data.startswith(_BOMS):
        return data.decode(codec.replace("-le", "").replace("-be", ""), "replace")
    if b"\x00" not in data[:4096]:
        return None
    if not codec.endswith(("-le", "-be")):
        head = data[:4096]
        even = head[0::2].count(0)
        codec += "-be" if even > head[1::2].count(0) else "-le"
    return data.decode(codec, "replace")


def _latin_letter_in_utf8(err: UnicodeError) -> tuple[str, int]:
    """Error handler for UTF-8 text with Windows-1252 bytes in it (a form that pastes
    Latin-1 into UTF-8 mail, a quoted-printable part with both): a bad byte that is a
    Windows-1252 letter and touches a letter or another 8-bit byte is that letter
    ("Äußeres"); any other bad byte is one replacement character."""
    assert isinstance(err, UnicodeDecodeError)
    data, at = err.object, err.start
    byte = data[at]
    near = data[at - 1:at] + data[at + 1:at + 2]
    broken_sequence = 0xC2 <= byte <= 0xF4 and 0x80 <= (near[-1:] or b"\0")[0] <= 0xBF
    if (byte in _CP1252_LETTERS and not broken_sequence
            and any(b >= 0x80 or chr(b).isalpha() for b in near)):
        return bytes([byte]).decode("cp1252"), at + 1
    return "\ufffd", at + 1


_LATIN_IN_UTF8 = "cocmail-latin-in-utf8"
_MAX_BAD_BYTES = 50_000  # the handler runs once per bad byte: about 20 ms for these
_CP1252_LETTERS = frozenset(b for b in range(0x80, 0x100)
                            if bytes([b]).decode("cp1252", "ignore").isalpha())
codecs.register_error(_LATIN_IN_UTF8, _latin_letter_in_utf8)


def decode_8bit(data: bytes, hint: str | None = None) -> str:
    """Raw 8-bit header bytes as text: UTF-8 (RFC 6532), else the body's declared charset
    (`hint`: the same client wrote both), else Windows-1252. 7-bit bytes with ISO-2022
    escapes are JIS text an old Japanese client wrote unencoded."""
    if data.isascii():
        return decode_text(data, None)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for codec in codecs_for(hint):
        if codec in ("ascii", "utf-8", "latin-1", "cp1252", "iso8859-1"):
            continue
        try:
            return data.decode(codec)
        except (UnicodeError, LookupError):
            continue
    return data.decode("cp1252", "replace")


def html_charset(data: bytes) -> str | None:
    """The charset an HTML part declares in a <meta> tag near its top, if any."""
    found = _META_CHARSET.search(data[:2048])
    return found.group(1).decode("ascii") if found else None


def _mostly_utf8(data: bytes) -> bool:
    """More of the 8-bit bytes sit in valid UTF-8 sequences than not."""
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))  # at C speed: 10 MB parts
    return bad * 4 < non_ascii
