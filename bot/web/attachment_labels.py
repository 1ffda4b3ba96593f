"""The press office's words for why an uploaded picture, video or PDF was refused: the checks
(``images``, ``videos``, ``documents``) give their reason in plain English, for the API; the
console says it in German."""

from .. import documents, images, uploads

_MB = 1024 * 1024


def upload_error(reason, kind):
    """German for ``reason`` (the check's English), for a file that claimed to be ``kind``."""
    if kind == uploads.VIDEO:
        return _video(reason)
    if kind == uploads.PDF:
        return _pdf(reason)
    return _picture(reason)


def _picture(reason):
    if reason.startswith("the file has"):
        return f"Das Bild ist zu groß: höchstens {images.MAX_BYTES // _MB} MB."
    if reason.startswith("the picture has"):
        megapixels = images.MAX_PIXELS // 1_000_000
        return (f"Das Bild hat zu viele Bildpunkte: höchstens {megapixels} Megapixel sind "
                "möglich. Bitte verkleinern Sie es und laden Sie es erneut hoch.")
    if reason.startswith("only JPEG"):
        return "Nur Bilder im Format JPEG (JPG) oder PNG sind möglich."
    return ("Die Datei ist kein Bild im Format JPEG oder PNG, kein Video (MP4) und kein PDF, "
            "oder sie ist beschädigt.")


def _video(reason):
    if reason.startswith("the file has"):
        return f"Das Video ist zu groß: höchstens {uploads.MAX_BYTES // _MB} MB."
    if "H.264" in reason or "AAC" in reason or "pixel format" in reason or "track" in reason:
        return ("Dieses Video kann WhatsApp nicht abspielen: Möglich sind MP4-Videos mit "
                "H.264-Bild und AAC-Ton. Bitte speichern Sie es in diesem Format und laden Sie "
                "es erneut hoch.")
    return "Das Video ist beschädigt oder unvollständig. Bitte laden Sie es erneut hoch."


def _pdf(reason):
    if reason.startswith("the file has"):
        return f"Das PDF ist zu groß: höchstens {uploads.MAX_BYTES // _MB} MB."
    if "pages" in reason:
        return f"Das PDF hat zu viele Seiten: höchstens {documents.MAX_PAGES} sind möglich."
    if "password" in reason:
        return ("Das PDF ist mit einem Passwort geschützt oder verschlüsselt. Bitte laden Sie "
                "es ohne Schutz hoch.")
    if "complex" in reason or "unpacks" in reason:
        return ("Dieses PDF lässt sich nicht sicher prüfen (es ist zu aufwendig aufgebaut). "
                "Bitte speichern Sie es neu, z. B. über „Drucken als PDF“, und laden Sie es "
                "erneut hoch.")
    return "Das PDF ist beschädigt oder unvollständig. Bitte laden Sie es erneut hoch."


def size_text(size):
    """A file's size as the preview says it: "1,2 MB", "15 KB"."""
    if size >= _MB:
        return f"{size / _MB:.1f} MB".replace(".", ",")
    return f"{max(1, round(size / 1024))} KB"


def length_text(seconds):
    """A video's length: "0:12", "3:05"."""
    whole = round(seconds or 0)
    return f"{whole // 60}:{whole % 60:02d}"


def pages_text(pages):
    return "1 Seite" if pages == 1 else f"{pages} Seiten"
