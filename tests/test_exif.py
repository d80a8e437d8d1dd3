"""Photo metadata never leaves the team (issue 21): the DSF's attached correspondence
carries a reporter's pictures without EXIF (GPS and all), PNG text chunks or WebP/GIF
metadata, pixels unchanged; a picture that cannot be cleaned is left out, saying so.
Through real mail (Desk); Pillow only reads the result."""

from __future__ import annotations

import io
from collections.abc import Callable
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from testsupport.apps import Desk

GPS_IFD = 0x8825
DSF = "conduct@djangoproject.com"


def _picture() -> Image.Image:
    img = Image.new("RGB", (64, 48), (200, 30, 30))
    for x in range(64):
        img.putpixel((x, x % 48), (0, 0, 255))
    return img


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x013B] = "Rita Reporter"  # Artist
    exif[GPS_IFD] = {1: "N", 2: (38.0, 42.0, 30.0), 3: "W", 4: (9.0, 8.0, 15.0)}
    return exif.tobytes()


def _jpeg(**kw: object) -> bytes:
    out = io.BytesIO()
    _picture().save(out, "JPEG", exif=_exif(), comment=b"Rita's phone", **kw)
    return out.getvalue()


def _png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Rita Reporter")
    out = io.BytesIO()
    _picture().save(out, "PNG", pnginfo=info, exif=_exif())
    return out.getvalue()


def _webp() -> bytes:
    out = io.BytesIO()
    _picture().save(out, "WEBP", lossless=True, exif=_exif(), xmp=b"<x>Rita Reporter</x>")
    return out.getvalue()


def _gif() -> bytes:
    out = io.BytesIO()
    _picture().save(out, "GIF", comment=b"Rita Reporter")
    return out.getvalue()


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB").tobytes()


def _report_with_pictures() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Rita Reporter <rita@attendee.example>"
    msg["To"] = "conduct@example.org"
    msg["Subject"] = "Photos of what happened"
    msg["Message-ID"] = "<photos@attendee.example>"
    msg.set_content("Dan grabbed my arm; here are photos.\n")
    msg.add_attachment(_jpeg(), maintype="image", subtype="jpeg", filename="IMG_0001.jpg")
    msg.add_attachment(_png(), maintype="image", subtype="png", filename="screenshot.png")
    # A JPEG sent as a plain file is a JPEG all the same.
    msg.add_attachment(_jpeg(progressive=True), maintype="application",
                       subtype="octet-stream", filename="photo.bin")
    msg.add_attachment(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64, maintype="image",
                       subtype="heic", filename="IMG_0002.HEIC")
    return msg.as_bytes()


@pytest.fixture
def desk(make_desk: Callable[..., Desk]) -> Desk:
    return make_desk("[dsf]\nattach_correspondence = true\n")


def test_the_dsf_gets_the_reporter_s_photos_without_their_metadata(desk: Desk) -> None:
    assert desk.receive(_report_with_pictures()) == "done"
    desk.staff("ana@example.org", 1, "#accused Dan Doe <dan@speaker.example>\n#when Friday\n"
               "#where Hallway\n#action A warning\n#report-dsf now Dan grabbed an arm.\n")
    (dsf,) = [m for m in desk.sent() if DSF in str(m["To"])]
    (report,) = [p for p in dsf.iter_attachments() if p.get_content_type() == "message/rfc822"]
    inner = report.get_content()
    parts = {p.get_filename(): p for p in inner.iter_attachments()}
    assert "Dan grabbed my arm" in inner.get_body(("plain",)).get_content()
    originals = {"IMG_0001.jpg": _jpeg(), "screenshot.png": _png(),
                 "photo.bin": _jpeg(progressive=True)}
    for name, original in originals.items():
        data = parts[name].get_content()
        assert b"Rita" not in data and b"PhoneMaker" not in data, name
        with Image.open(io.BytesIO(data)) as im:
            assert not im.getexif() and GPS_IFD not in im.getexif(), name
            assert not {"exif", "comment", "Author"} & set(im.info), name
        assert _pixels(data) == _pixels(original), name  # lossless
    heic = parts["IMG_0002.HEIC (left out).txt"]
    assert heic.get_content_type() == "text/plain"
    assert "was left out" in heic.get_content()
    assert b"ftypheic" not in dsf.as_bytes()


@pytest.mark.parametrize("make", [_jpeg, _png, _webp, _gif])
def test_every_format_keeps_its_pixels_and_loses_its_metadata(make: Callable[[], bytes]) -> None:
    from cocmail.core.image_meta import strip_metadata

    original = make()
    assert b"Rita" in original
    cleaned = strip_metadata(original)
    assert cleaned is not None and b"Rita" not in cleaned
    assert _pixels(cleaned) == _pixels(original)


def test_what_cannot_be_read_is_not_passed_on() -> None:
    from cocmail.core.image_meta import strip_metadata

    jpeg = _jpeg()
    assert strip_metadata(jpeg[:200]) is None  # cut short
    assert strip_metadata(b"II*\x00" + b"\x00" * 32) is None  # TIFF


def test_a_picture_inside_html_loses_its_metadata_too(desk: Desk) -> None:
    import base64

    msg = EmailMessage()
    msg["From"] = "Rita Reporter <rita@attendee.example>"
    msg["To"] = "conduct@example.org"
    msg["Subject"] = "What happened"
    msg["Message-ID"] = "<html@attendee.example>"
    msg.set_content("Dan grabbed my arm.\n")
    picture = base64.b64encode(_jpeg()).decode("ascii")
    msg.add_alternative(f'<p>Dan grabbed my arm.</p><img src="data:image/jpeg;base64,{picture}">',
                        subtype="html")
    assert desk.receive(msg.as_bytes()) == "done"
    desk.staff("ana@example.org", 1, "#accused Dan Doe <dan@speaker.example>\n#when Friday\n"
               "#where Hallway\n#action A warning\n#report-dsf now Dan grabbed an arm.\n")
    (dsf,) = [m for m in desk.sent() if DSF in str(m["To"])]
    (report,) = [p for p in dsf.iter_attachments() if p.get_content_type() == "message/rfc822"]
    html = report.get_content().get_body(("html",)).get_content()
    data = base64.b64decode(html.split("base64,", 1)[1].split('"', 1)[0])
    with Image.open(io.BytesIO(data)) as im:
        assert not im.getexif()
    assert b"Rita" not in data and _pixels(data) == _pixels(_jpeg())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x10\x00\x00\x00WEBP",
                        b"GIF89a"]), st.binary(max_size=300))
def test_broken_images_never_raise(magic: bytes, rest: bytes) -> None:
    from cocmail.core.image_meta import strip_metadata

    assert strip_metadata(magic + rest) is None or isinstance(strip_metadata(magic + rest), bytes)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_a_mail_with_a_broken_picture_still_goes_without_it(junk: bytes) -> None:
    from cocmail.core.correspondence import clean_images

    msg = EmailMessage()
    msg["From"] = "rita@attendee.example"
    msg.set_content("See the photo.\n")
    msg.add_attachment(b"\xff\xd8\xff" + junk, maintype="image", subtype="jpeg",
                       filename="broken.jpg")
    import email
    from email.policy import default

    cleaned = email.message_from_bytes(clean_images(msg.as_bytes()), policy=default)
    assert "See the photo." in cleaned.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    (part,) = cleaned.iter_attachments()  # type: ignore[attr-defined]
    if b"\xff\xd9" not in b"\xff\xd8\xff" + junk:  # no end of image: not a whole JPEG
        assert "was left out" in part.get_content()
