"""PDFs the press office uploads (a flyer, a general order, a map): checked by reading them with
pypdf, and written anew without who made them.

A PDF names its author, the program that made it and the one that converted it (the document
information dictionary, and the same again as XMP); a county's PDF would tell anyone the
officer's name and the office's software. The PDF is rebuilt from its pages: what the catalog
held besides them (the information dictionary, XMP, scripts run on opening, attachments)
is not carried over, and each page loses its own metadata, private application data,
actions, article beads (/B) and thumbnail (/Thumb).

A page's annotations are where an office program keeps reviewers' comments (their author in
/T, their text in /Contents and a /Popup), files attached to the page (FileAttachment), form
fields and sounds: of them only links to a web address are kept (a /Link whose action is a
/URI), rebuilt with nothing but where they are and where they point.

Reading a PDF means following its objects and unpacking its streams, which a hostile file can
make endless: streams that unpack a thousandfold, a page tree that promises a million pages,
objects nested thousands deep. The check therefore runs in a Python process of its own
(``python -m bot.documents``) under ``uploads.run_bounded``'s limits on memory, CPU and wall
time, and within it every page's content is unpacked with a cap on the total: what exceeds a
cap is refused, and what makes the process die is refused too.

A leaf module: bytes in, bytes out, no database.
"""

import json
import logging
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from . import uploads

CONTENT_TYPE = "application/pdf"
# More pages than any leaflet or general order a county posts.
MAX_PAGES = 500
# What all the pages' contents and pictures may unpack to together.
MAX_UNPACKED = 200 * 1024 * 1024
# How deep forms may draw other forms.
MAX_FORM_DEPTH = 8
DEFAULT_FILENAME = "Dokument.pdf"
# The page entries that say who made it or what it runs, not what it shows.
_PAGE_KEYS_DROPPED = ("/Metadata", "/PieceInfo", "/AA", "/LastModified", "/B", "/Thumb")
# What a kept link keeps: where it is drawn and how; never who wrote it or a comment.
_LINK_KEYS_KEPT = ("/Rect", "/QuadPoints", "/Border", "/BS", "/C", "/H", "/F")
_ROOT = Path(__file__).resolve().parent.parent

log = logging.getLogger(__name__)


class InvalidDocument(uploads.InvalidFile):
    """Not a PDF we send; the message says why."""


@dataclass(frozen=True)
class Cleaned:
    data: bytes
    content_type: str
    pages: int
    filename: str


def clean(data, filename=None):
    """Check ``data`` (a PDF of at most uploads.MAX_BYTES) and write it anew without its
    metadata; ``filename`` is what it was uploaded as (made safe to show). Raises
    InvalidDocument, and nothing else, for anything that is not such a PDF."""
    if not data:
        raise InvalidDocument("the file is empty")
    if len(data) > uploads.MAX_BYTES:
        raise InvalidDocument(uploads.too_large(len(data)))
    if uploads.kind_of(data) != uploads.PDF:
        raise InvalidDocument("the file is not a PDF")
    try:
        out, errors, written = uploads.run_bounded(
            [sys.executable, "-m", "bot.documents", "{in}", "{out}"], data, suffix=".pdf",
            env={"PYTHONPATH": str(_ROOT), "PYTHONDONTWRITEBYTECODE": "1"})
    except uploads.CheckFailed as exc:
        log.info("PDF refused: the check %s: %s", exc, exc.output[-300:])
        raise InvalidDocument("the PDF is too complex to check (it takes too much time or "
                              "memory to read)") from None
    answer = json.loads(out)
    if "refused" in answer:
        raise InvalidDocument(answer["refused"])
    if not written or len(written) > uploads.MAX_BYTES:
        raise InvalidDocument(uploads.too_large(len(written or b"")))
    return Cleaned(written, CONTENT_TYPE, answer["pages"], safe_filename(filename))


def safe_filename(name):
    """The name a citizen's phone shows for the PDF: the uploaded file's own name, without a
    path, control characters or quotes, at most 100 characters, ending in .pdf."""
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C" and c not in "\"<>|:*?")
    name = re.sub(r"\s+", " ", name).strip()
    stem = re.sub(r"\.pdf$", "", name, flags=re.IGNORECASE).strip(" .")[:96].strip(" .")
    return f"{stem}.pdf" if stem else DEFAULT_FILENAME


# What follows runs in the checking process only.

def _check(source, target):
    """Read ``source``, write the rebuilt PDF to ``target``; answers {"pages": n} or
    {"refused": reason}."""
    import pypdf
    from pypdf.errors import LimitReachedError, PdfReadError
    from pypdf.generic import NameObject

    try:
        reader = pypdf.PdfReader(source, strict=False)
        if reader.is_encrypted:
            return {"refused": "the PDF is password-protected or encrypted; only open PDFs are "
                               "accepted"}
        declared = reader.trailer["/Root"]["/Pages"]["/Count"]
        if not isinstance(declared, int) or declared > MAX_PAGES:
            return {"refused": _too_many_pages(declared)}
        pages = list(reader.pages)
        if not pages:
            return {"refused": "the PDF has no pages"}
        if len(pages) > MAX_PAGES:
            return {"refused": _too_many_pages(len(pages))}
        unpacked = 0
        for page in pages:
            unpacked += _unpacked_size(page, MAX_UNPACKED - unpacked)
        writer = pypdf.PdfWriter()
        for page in pages:
            # Dropped from the page before it is copied, so that what they point to (an
            # attached file, a comment's popup) is never written at all.
            for key in _PAGE_KEYS_DROPPED:
                page.pop(NameObject(key), None)
            _keep_web_links(page)
            writer.add_page(page)
        writer.metadata = None
        writer.xmp_metadata = None
        writer.write(target)
    except _Bomb:
        return {"refused": "the PDF unpacks to far more than its size (over "
                           f"{MAX_UNPACKED // (1024 * 1024)} MB): not accepted"}
    except LimitReachedError:
        return {"refused": "the PDF is too complex to check: a part of it unpacks to more than "
                           "the reader allows"}
    except RecursionError:
        return {"refused": "the PDF is too complex to check (its objects are nested too deep)"}
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            OSError) as exc:
        print(f"{type(exc).__name__}: {exc}"[:300], file=sys.stderr)
        return {"refused": "the PDF cannot be read (damaged or incomplete)"}
    return {"pages": len(pages)}


class _Bomb(Exception):
    pass


def _keep_web_links(page):
    """Replace the page's annotations by new ones for its links to web addresses only."""
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

    annotations = page.get("/Annots")
    page.pop(NameObject("/Annots"), None)
    kept = ArrayObject()
    for reference in (annotations.get_object() if annotations is not None else None) or []:
        annotation = reference.get_object()
        if not isinstance(annotation, DictionaryObject) or annotation.get("/Subtype") != "/Link":
            continue
        action = annotation.get("/A")
        action = action.get_object() if action is not None else None
        if not isinstance(action, DictionaryObject) or action.get("/S") != "/URI":
            continue
        uri = action.get("/URI")
        uri = uri.get_object() if uri is not None else None
        if not isinstance(uri, (str, bytes)):
            continue
        if isinstance(uri, bytes):
            uri = uri.decode("latin-1")
        link = DictionaryObject({
            NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Link"),
            NameObject("/A"): DictionaryObject({NameObject("/S"): NameObject("/URI"),
                                                NameObject("/URI"): TextStringObject(str(uri))})})
        for key in _LINK_KEYS_KEPT:
            if key in annotation:
                link[NameObject(key)] = annotation[key]
        if "/Rect" in link:
            kept.append(link)
    if kept:
        page[NameObject("/Annots")] = kept


def _unpacked_size(page, allowed):
    """What the page's content and its pictures and forms unpack to; _Bomb beyond ``allowed``."""
    total = 0
    contents = page.get_contents()
    if contents is not None:
        total += len(contents.get_data())
    seen = set()

    def resources(holder, depth):
        nonlocal total
        if total > allowed:
            raise _Bomb
        if depth > MAX_FORM_DEPTH:
            raise RecursionError
        xobjects = (holder.get("/Resources") or {}).get("/XObject") or {}
        for reference in xobjects.values():
            key = getattr(reference, "idnum", None)
            if key is not None and key in seen:
                continue
            seen.add(key)
            stream = reference.get_object()
            total += len(stream.get_data())
            if total > allowed:
                raise _Bomb
            if stream.get("/Subtype") == "/Form":
                resources(stream, depth + 1)

    resources(page, 0)
    if total > allowed:
        raise _Bomb
    return total


def _too_many_pages(count):
    return f"the PDF has {count} pages; at most {MAX_PAGES} are accepted"


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)  # pypdf's warnings about sloppy files are no answer
    print(json.dumps(_check(sys.argv[1], sys.argv[2])))
