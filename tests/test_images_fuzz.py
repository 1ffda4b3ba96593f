"""The picture cleaner under damaged and hostile files: whatever comes in, what comes out is
either its own InvalidImage or a valid JPEG/PNG without metadata, never another exception (which
the web would answer with a 500). And a picture larger than MAX_PIXELS is refused on the size its
header states, before anything is decoded."""

import io
import random
import struct
import warnings
import zlib

import pytest
from PIL import Image

from bot import images

SEED = 27
CASES = 400
# What each format can hold: the cleaner meets all of them.
MODES = {"JPEG": ["RGB", "L", "CMYK"], "PNG": ["RGB", "L", "RGBA", "P", "1", "I;16"],
         "GIF": ["RGB", "L", "P"], "WEBP": ["RGB", "RGBA"]}


def entry(tag, kind, count, value):
    return struct.pack("<HHI", tag, kind, count) + value


def exif_with_wrong_types(rng):
    """A little-endian EXIF block: an orientation, a GPS block and fields whose types are not
    those of their tags (text where numbers belong, numbers where text belongs, counts that do
    not fit), as some cameras and editors write them."""
    gps_count = rng.randint(1, 4)
    gps_at = 8 + 2 + 12 * 2 + 4
    data_at = gps_at + 2 + 12 * gps_count + 4
    data = b""
    gps = []
    for _ in range(gps_count):
        if rng.random() < 0.5:
            value = struct.pack("<I", data_at + len(data))
            data += rng.randbytes(rng.randint(8, 48))
        else:
            value = rng.randbytes(4)
        gps.append(entry(rng.randint(0, 31), rng.randint(1, 12), rng.choice([1, 2, 3, 4, 8]),
                         value))
    ifd0 = (struct.pack("<H", 2)
            + entry(0x0112, 3, 1, struct.pack("<HH", rng.randint(1, 8), 0))
            + entry(0x8825, rng.choice([4, 4, 13, 3, 2, 5, 7]), 1, struct.pack("<I", gps_at))
            + struct.pack("<I", 0))
    return (b"II*\x00" + struct.pack("<I", 8) + ifd0 + struct.pack("<H", gps_count)
            + b"".join(gps) + struct.pack("<I", 0) + data)


def small_picture(kind, rng, exif=None):
    mode = rng.choice(MODES[kind])
    size = (rng.randint(1, 40), rng.randint(1, 40))
    picture = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3)).convert(mode)
    out = io.BytesIO()
    extra = {}
    if exif is not None:
        extra["exif"] = b"Exif\x00\x00" + exif if kind == "JPEG" else exif
    picture.save(out, kind, **extra)
    return out.getvalue()


def mutated(rng):
    """One input: a small valid picture, then byte flips, a cut, or an EXIF block of wrong
    types (or two of these)."""
    kind = rng.choice(["JPEG", "PNG", "GIF", "WEBP"])
    exif = exif_with_wrong_types(rng) if kind != "GIF" and rng.random() < 0.4 else None
    data = bytearray(small_picture(kind, rng, exif))
    for _ in range(rng.choice([0, 1, 1, 2])):
        change = rng.choice(["flip", "cut", "splice"])
        if change == "flip":
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif change == "cut":
            data = data[:rng.randrange(1, len(data))]
        else:
            at = rng.randrange(len(data))
            data[at:at] = rng.randbytes(rng.randint(1, 64))
    return kind, bytes(data)


def assert_valid_output(cleaned):
    shown = Image.open(io.BytesIO(cleaned.data))
    assert {"JPEG": "image/jpeg", "PNG": "image/png"}[shown.format] == cleaned.content_type
    assert shown.size == (cleaned.width, cleaned.height)
    assert len(cleaned.data) <= images.MAX_BYTES
    shown.load()
    assert dict(shown.getexif()) == {} and b"Exif" not in cleaned.data
    assert not {"exif", "icc_profile", "xmp", "comment"} & set(shown.info)


def test_damaged_pictures_give_the_cleaners_reason_or_a_clean_picture():
    rng = random.Random(SEED)
    outcomes = {"refused": 0, "cleaned": 0}
    escaped = []
    with warnings.catch_warnings():
        # Pillow warns of every damaged EXIF block it reads; the outcome is what counts.
        warnings.simplefilter("ignore")
        for number in range(CASES):
            kind, data = mutated(rng)
            try:
                cleaned = images.clean(data)
            except images.InvalidImage as exc:
                assert str(exc)
                outcomes["refused"] += 1
                continue
            except Exception as exc:  # noqa: BLE001 - what escaped is the finding
                escaped.append(f"case {number} ({kind}): {type(exc).__name__}: {exc}")
                continue
            assert_valid_output(cleaned)
            outcomes["cleaned"] += 1
    assert not escaped, "\n".join(escaped[:10])
    # Both outcomes occur: the mutations neither all break the pictures nor all miss.
    assert outcomes["refused"] > CASES // 10 and outcomes["cleaned"] > CASES // 10, outcomes


def photo_with_gps_of_another_type():
    """A turned phone photo whose GPSLatitudeRef (text) is written as three rationals: Pillow
    reads it, but cannot write the block back, which turning the picture by its EXIF did."""
    gps_at = 8 + 2 + 2 * 12 + 4
    gps = (struct.pack("<H", 1) + entry(1, 5, 3, struct.pack("<I", gps_at + 2 + 12 + 4))
           + struct.pack("<I", 0) + struct.pack("<6I", 53, 1, 13, 1, 42, 1))
    ifd0 = (struct.pack("<H", 2) + entry(0x0112, 3, 1, struct.pack("<HH", 6, 0))
            + entry(0x8825, 4, 1, struct.pack("<I", gps_at)) + struct.pack("<I", 0))
    exif = b"II*\x00" + struct.pack("<I", 8) + ifd0 + gps
    out = io.BytesIO()
    Image.new("RGB", (30, 20), (200, 30, 30)).save(out, "JPEG", exif=b"Exif\x00\x00" + exif)
    return out.getvalue()


def test_a_photo_whose_gps_field_has_another_type_is_cleaned_and_stays_upright():
    cleaned = images.clean(photo_with_gps_of_another_type())
    assert_valid_output(cleaned)
    assert (cleaned.width, cleaned.height) == (20, 30)  # orientation 6: turned upright


def png_header(width, height):
    """A PNG that states its size and holds a few bytes of (garbage) pixel data: anything that
    decoded it would fail, so a refusal naming the size was made before decoding."""
    def chunk(name, body):
        return struct.pack(">I", len(body)) + name + body + struct.pack(
            ">I", zlib.crc32(name + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"not zlib")
            + chunk(b"IEND", b""))


def jpeg_header(width, height):
    out = io.BytesIO()
    Image.new("RGB", (16, 16)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


# Just above the limit, above Pillow's own warning (89 MP), above its error (179 MP), and the
# largest a JPEG can state.
@pytest.mark.parametrize("width, height", [(8000, 5001), (10000, 10000), (20000, 10000),
                                           (65535, 65535)])
@pytest.mark.parametrize("header", [png_header, jpeg_header])
def test_a_picture_above_40_megapixels_is_refused_before_decoding(header, width, height):
    with pytest.raises(images.InvalidImage) as refused:
        images.clean(header(width, height))
    reason = str(refused.value)
    assert reason.startswith("the picture has") and "at most 40 megapixels" in reason
    if width * height < 2 * 89_478_485:  # below that, Pillow opens it and we read its size
        assert reason.startswith(f"the picture has {width} × {height} pixels")


def test_the_limit_holds_whatever_pillows_own_limit_is(monkeypatch):
    # Another library in the process may lift Pillow's process-wide limit; ours stays.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(images.InvalidImage, match="at most 40 megapixels"):
        images.clean(png_header(10000, 10000))
