"""Videos the press office uploads: an MP4 with H.264 video and (at most one) AAC audio track,
the codecs every WhatsApp client plays; checked with ffprobe, written anew without metadata,
and given a poster frame for the console's preview.

A phone writes where a video was taken (an ISO 6709 location), when, and with which phone into
the file; ffmpeg copies the video and audio packets as they are (no new encoding, so nothing is
lost and it takes a moment) into a new MP4 that has nothing else: no tags, no chapters, no
other tracks, its index at the front so that a phone can play it while it loads.

ffprobe reads every packet's header (not its pixels): a file cut short in the upload has
fewer packets than its index promises, or ends inside one, and is refused. Both tools run in
a process of their own with limits (``uploads.run_bounded``).

A leaf module: bytes in, bytes out, no database.
"""

import json
import logging
from dataclasses import dataclass

from . import images, uploads

CONTENT_TYPE = "video/mp4"
# Pixel formats a phone's H.264 decoder plays (4:2:0, 8 bit).
_PIXEL_FORMATS = {"yuv420p", "yuvj420p"}
_PROBE = ["ffprobe", "-v", "error", "-f", "mov", "-count_packets", "-show_entries",
          "format=format_name,duration:stream=index,codec_type,codec_name,pix_fmt,width,height,"
          "nb_frames,nb_read_packets", "-of", "json", "-i", "{in}"]
_REMUX = ["ffmpeg", "-nostdin", "-v", "error", "-threads", "1", "-f", "mov", "-i", "{in}",
          "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-map_metadata", "-1",
          "-map_metadata:s:v", "-1", "-map_metadata:s:a", "-1", "-map_chapters", "-1",
          "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
          "-movflags", "+faststart", "-f", "mp4", "{out}"]
# The first frame, at most 640 pixels wide, as a JPEG (``images`` cleans it like any picture).
_POSTER = ["ffmpeg", "-nostdin", "-v", "error", "-threads", "1", "-f", "mp4", "-i", "{in}",
           "-frames:v", "1", "-vf", "scale='min(640,iw)':-2", "-fflags", "+bitexact",
           "-flags", "+bitexact", "-c:v", "mjpeg", "-q:v", "4", "-f", "image2", "{out}"]

log = logging.getLogger(__name__)


class InvalidVideo(uploads.InvalidFile):
    """Not a video we send; the message says why."""


@dataclass(frozen=True)
class Cleaned:
    data: bytes
    content_type: str
    width: int
    height: int
    seconds: float
    poster: bytes   # a JPEG of the first frame


def clean(data):
    """Check ``data`` (an MP4 of at most uploads.MAX_BYTES) and write it anew without metadata.
    Raises InvalidVideo, and nothing else, for anything that is not such a video."""
    if not data:
        raise InvalidVideo("the file is empty")
    if len(data) > uploads.MAX_BYTES:
        raise InvalidVideo(uploads.too_large(len(data)))
    if uploads.kind_of(data) != uploads.VIDEO:
        raise InvalidVideo("the file is not an MP4 video")
    video = _probe(data)
    try:
        _, _, remuxed = uploads.run_bounded(_REMUX, data, suffix=".mp4")
        _, _, poster = uploads.run_bounded(_POSTER, remuxed, suffix=".jpg")
        picture = images.clean(poster or b"")
    except (uploads.CheckFailed, images.InvalidImage) as exc:
        log.info("video refused while written anew: %s %s", exc,
                 getattr(exc, "output", b"")[-300:])
        raise InvalidVideo(_DAMAGED) from None
    if not remuxed or len(remuxed) > uploads.MAX_BYTES:
        raise InvalidVideo(_DAMAGED)
    return Cleaned(remuxed, CONTENT_TYPE, video["width"], video["height"],
                   video["seconds"], picture.data)


_DAMAGED = "the video cannot be read (damaged or incomplete)"


def _probe(data):
    try:
        out, errors, _ = uploads.run_bounded(_PROBE, data, suffix=".mp4")
        found = json.loads(out)
    except uploads.CheckFailed as exc:
        log.info("video refused by ffprobe: %s %s", exc, exc.output[-300:])
        raise InvalidVideo(_DAMAGED) from None
    except ValueError:
        raise InvalidVideo(_DAMAGED) from None
    if errors.strip():
        # ffprobe says "partial file" for a packet the file ends inside of.
        log.info("video refused: ffprobe: %s", errors[-300:])
        raise InvalidVideo(_DAMAGED)
    streams = found.get("streams") or []
    videos = [s for s in streams if s.get("codec_type") == "video"]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    if len(videos) != 1:
        raise InvalidVideo("the file must have exactly one video track (it has "
                           f"{len(videos)})")
    if len(audios) > 1:
        raise InvalidVideo(f"the file must have at most one audio track (it has {len(audios)})")
    video = videos[0]
    if video.get("codec_name") != "h264":
        raise InvalidVideo(f"the video is {_codec(video)}; only H.264 video is accepted "
                           "(WhatsApp plays no other)")
    if video.get("pix_fmt") not in _PIXEL_FORMATS:
        raise InvalidVideo(f"the video's pixel format is {video.get('pix_fmt') or 'unknown'}; "
                           "only 8-bit 4:2:0 (yuv420p) plays on phones")
    if audios and audios[0].get("codec_name") != "aac":
        raise InvalidVideo(f"the audio is {_codec(audios[0])}; only AAC audio is accepted "
                           "(WhatsApp plays no other)")
    for stream in videos + audios:
        promised, read = _number(stream.get("nb_frames")), _number(stream.get("nb_read_packets"))
        if not read or promised and read < promised:
            raise InvalidVideo("the video is incomplete: the file ends before its last frame")
    seconds = _number(found.get("format", {}).get("duration"), float)
    if not seconds or seconds <= 0:
        raise InvalidVideo(_DAMAGED)
    return {"width": _number(video.get("width")) or 0,
            "height": _number(video.get("height")) or 0, "seconds": seconds}


def _codec(stream):
    return (stream.get("codec_name") or "unknown").upper()


def _number(value, kind=int):
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None
