"""Pictures the press office uploads: checked, and re-encoded so that nothing but the picture
is left.

A phone photo of a closed road carries where and when it was taken, and with which phone
(EXIF, GPS, maker notes, XMP, comments): published with a broadcast, that would tell anyone
where the officer stood. Pillow decodes the picture and writes its pixels anew, and writes
nothing else: no EXIF, no XMP, no text chunks, no colour profile. The EXIF orientation is
applied to the pixels first, so that the picture stays upright without the tag.

A leaf module: bytes in, bytes out, no database.
"""

import io
import logging
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

# WhatsApp accepts images of at most 5 MB.
MAX_BYTES = 5 * 1024 * 1024
# The request that carries one may be a little larger (the form around it).
UPLOAD_BODY_LIMIT = MAX_BYTES + 256 * 1024
# A picture larger than this in pixels is no press photo: it is refused before it is decoded
# (a small file can unpack into gigabytes).
MAX_PIXELS = 40_000_000
# Re-encoded larger than WhatsApp accepts: scaled down until it fits.
_JPEG_QUALITY = 85
_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
# Pillow's JPEG opener also opens MPO (a JPEG with more pictures in it).
_OPENERS = ("JPEG", "PNG")
# The EXIF orientation tag, and what each of its values asks of the pixels.
_ORIENTATION = 0x0112
_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

log = logging.getLogger(__name__)


class InvalidImage(Exception):
    """Not a picture we send; the message says why, in plain English. The only exception
    ``clean`` raises."""


@dataclass(frozen=True)
class Cleaned:
    data: bytes
    content_type: str
    width: int
    height: int


def clean(data):
    """Check ``data`` (a JPEG or PNG of at most MAX_BYTES) and re-encode it without metadata.

    Raises InvalidImage, and nothing else, for anything that is not such a picture: whatever a
    damaged or hostile file makes the decoder raise is a reason to refuse it, never an error of
    ours.
    """
    if not data:
        raise InvalidImage("the file is empty")
    if len(data) > MAX_BYTES:
        raise InvalidImage(f"the file has {len(data)} bytes; at most {MAX_BYTES} (5 MB) are "
                           "accepted")
    try:
        return _clean(data)
    except InvalidImage:
        raise
    except Exception as exc:  # noqa: BLE001 - see the docstring
        # Pillow's words name no person; they tell a developer which decoder gave up.
        log.info("picture refused: %s: %s", type(exc).__name__, exc)
        raise InvalidImage("the picture cannot be read (damaged or incomplete)") from None


def _clean(data):
    with warnings.catch_warnings():
        # Pillow's own bomb check (a process-wide limit, above ours) only warns below twice
        # its limit; ours is checked below, on the size the header states.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            # Only the decoders of what we accept ever see the bytes.
            opened = Image.open(io.BytesIO(data), formats=_OPENERS)
        except Image.DecompressionBombError:
            raise InvalidImage(_too_many_pixels(None)) from None
        except UnidentifiedImageError:
            raise InvalidImage("the file is not a JPEG or PNG picture (only JPEG and PNG "
                               "pictures are accepted)") from None
    # Many phones write JPEGs with a second, smaller picture in them (MPO); the first one is
    # the photo.
    kind = "JPEG" if opened.format == "MPO" else opened.format
    if kind not in _FORMATS:
        raise InvalidImage("only JPEG and PNG pictures are accepted")
    # Opening read the header only: the size it states is checked before a single pixel is
    # decoded (a small file can unpack into gigabytes).
    if opened.width * opened.height > MAX_PIXELS:
        raise InvalidImage(_too_many_pixels(opened.size))
    turn = _orientation(opened)
    opened.load()
    if turn is None:
        picture = opened
    else:
        picture = opened.transpose(turn)
        # Not two copies of 40 megapixels while the turned one is encoded.
        opened.close()
    out = _encode(picture, kind)
    while len(out) > MAX_BYTES and min(picture.size) > 64:
        picture = picture.resize((picture.width * 3 // 4, picture.height * 3 // 4))
        out = _encode(picture, kind)
    return Cleaned(out, _FORMATS[kind], picture.width, picture.height)


def _too_many_pixels(size):
    limit = f"at most {MAX_PIXELS // 1_000_000} megapixels are accepted"
    if size is None:
        return f"the picture has too many pixels; {limit}"
    return (f"the picture has {size[0]} × {size[1]} pixels "
            f"({size[0] * size[1] / 1_000_000:.1f} megapixels); {limit}")


def _orientation(opened):
    """How to turn the pixels so that the picture stands as the camera meant it, or None.

    Only the orientation tag is read: ImageOps.exif_transpose would also write the rest of the
    EXIF back, and fails on a block whose fields do not have the types their tags should (a GPS
    field written as text, say); that block is dropped anyway, and an unreadable one is no
    reason to refuse the photo.
    """
    try:
        return _TURNS.get(opened.getexif().get(_ORIENTATION))
    except Exception:  # noqa: BLE001 - an unreadable tag is as good as none
        return None


def _encode(picture, kind):
    # What the decoder kept besides the pixels (EXIF, XMP, comments, the colour profile, the
    # camera's own blocks) would be written back by some of Pillow's encoders; only a palette
    # picture's transparent colour is part of the picture.
    picture.info = {key: value for key, value in picture.info.items() if key == "transparency"}
    buffer = io.BytesIO()
    if kind == "JPEG":
        if picture.mode not in ("RGB", "L"):
            picture = picture.convert("RGB")
        picture.save(buffer, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    else:
        if picture.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            picture = picture.convert("RGBA")
        # Pillow writes a PNG's text, EXIF or colour profile only when asked to; it is not.
        picture.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()
