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
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

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


class InvalidImage(Exception):
    """Not a picture we send; the message says why, in plain English."""


@dataclass(frozen=True)
class Cleaned:
    data: bytes
    content_type: str
    width: int
    height: int


def clean(data):
    """Check ``data`` (a JPEG or PNG of at most MAX_BYTES) and re-encode it without metadata."""
    if not data:
        raise InvalidImage("the file is empty")
    if len(data) > MAX_BYTES:
        raise InvalidImage(f"the file has {len(data)} bytes; at most {MAX_BYTES} (5 MB) are "
                           "accepted")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                # Many phones write JPEGs with a second, smaller picture in them (MPO); the
                # first one is the photo.
                kind = "JPEG" if opened.format == "MPO" else opened.format
                if kind not in _FORMATS:
                    raise InvalidImage("only JPEG and PNG pictures are accepted")
                if opened.width * opened.height > MAX_PIXELS:
                    raise InvalidImage("the picture has too many pixels")
                picture = ImageOps.exif_transpose(opened)
                picture.load()
    except InvalidImage:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        raise InvalidImage("the file is not a JPEG or PNG picture") from None
    except (OSError, ValueError, SyntaxError, EOFError):
        # Truncated or corrupt data: Pillow raises these while decoding.
        raise InvalidImage("the picture cannot be read (damaged or incomplete)") from None
    out = _encode(picture, kind)
    while len(out) > MAX_BYTES and min(picture.size) > 64:
        picture = picture.resize((picture.width * 3 // 4, picture.height * 3 // 4))
        out = _encode(picture, kind)
    return Cleaned(out, _FORMATS[kind], picture.width, picture.height)


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
