"""What the fakes of both platforms do with a message's media: fetch it, as the platform does
before it delivers, and judge it against that platform's rules (the content types WhatsApp
takes for the message's kind, and the size limits), so that a file the real platform would
refuse fails in a test too.

Only addresses on loopback are fetched (a test's own app); the fakes have no internet, so an
address elsewhere is taken unseen, as before.
"""

from urllib.parse import urlsplit

import aiohttp

MB = 1024 * 1024
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Meta's Cloud API: supported media by message type (its media reference), and their limits.
META_MEDIA = {
    "image": ({"image/jpeg", "image/png"}, 5 * MB),
    "video": ({"video/mp4", "video/3gpp"}, 16 * MB),
    "document": ({"application/pdf", "text/plain", "application/msword",
                  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                  "application/vnd.ms-excel",
                  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                  "application/vnd.ms-powerpoint",
                  "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
                 100 * MB),
}
# Twilio's WhatsApp media: one file per message, of these types, at most 16 MB (5 MB for a
# picture, WhatsApp's own limit).
TWILIO_MEDIA = {"image/jpeg": 5 * MB, "image/png": 5 * MB, "video/mp4": 16 * MB,
                "application/pdf": 16 * MB, "audio/ogg": 16 * MB, "audio/mpeg": 16 * MB,
                "audio/amr": 16 * MB}

UNREACHABLE, WRONG_TYPE, TOO_LARGE = "unreachable", "wrong type", "too large"


async def fetch(url, limit):
    """(content type, size) of what ``url`` serves, reading at most ``limit`` + 1 bytes;
    (None, None) when it cannot be fetched; None when it is not on loopback (not fetched)."""
    if urlsplit(url).hostname not in LOOPBACK:
        return None
    try:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(url) as answer:
                if answer.status != 200:
                    return None, None
                size = 0
                async for chunk in answer.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        break
                return answer.content_type, size
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None, None


async def meta_refusal(kind, link):
    """Why Meta would not deliver ``link`` as a message of ``kind`` (a reason above), or
    None."""
    types, limit = META_MEDIA[kind]
    fetched = await fetch(link, limit)
    if fetched is None:
        return None
    content_type, size = fetched
    if content_type is None:
        return UNREACHABLE
    if content_type not in types:
        return WRONG_TYPE
    return TOO_LARGE if size > limit else None


# What a WhatsApp media template's header of each kind takes on Twilio: the kind it was
# approved for (Twilio's twilio/media and twilio/card: "Only one type of media can be sent per
# approved variable WhatsApp media template").
TWILIO_HEADER_TYPES = {"image": {"image/jpeg", "image/png"}, "video": {"video/mp4"},
                       "document": {"application/pdf"}}


async def twilio_refusal(urls, header=None):
    """Why Twilio would not deliver these MediaUrl values on WhatsApp (a reason above), or
    None. ``header``: the media template's header kind the file must be of."""
    if len(urls) > 1:
        return WRONG_TYPE  # WhatsApp takes one file per message
    fetched = await fetch(urls[0], 16 * MB)
    if fetched is None:
        return None
    content_type, size = fetched
    if content_type is None:
        return UNREACHABLE
    if content_type not in TWILIO_MEDIA:
        return WRONG_TYPE
    if header and content_type not in TWILIO_HEADER_TYPES[header]:
        return WRONG_TYPE
    return TOO_LARGE if size > TWILIO_MEDIA[content_type] else None
