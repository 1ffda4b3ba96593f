"""The public archive as an Atom 1.0 feed, for the authority's website and other channels."""

import re
import xml.etree.ElementTree as ET

ATOM = "http://www.w3.org/2005/Atom"
# XML 1.0 cannot carry most control characters, and the API accepts any text but NUL.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def title_of(text, length=80):
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return first_line if len(first_line) <= length else first_line[:length - 1].rstrip() + "…"


def xml_text(text):
    return _NOT_XML.sub("", text or "")


def atom_feed(entries, base_url, authority, updated_fallback):
    """An Atom 1.0 document (bytes) for the given published broadcasts."""
    ET.register_namespace("", ATOM)

    def sub(parent, tag, text=None, **attrs):
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}",
                                {key: xml_text(value) for key, value in attrs.items()})
        if text is not None:
            element.text = xml_text(text)
        return element

    feed = ET.Element(f"{{{ATOM}}}feed", {"xml:lang": "de"})
    sub(feed, "id", f"{base_url}/feed.xml")
    sub(feed, "title", f"Infokanal – {authority}")
    sub(feed, "subtitle", f"Meldungen von {authority} über WhatsApp")
    sub(feed, "updated", entries[0]["published_at"] if entries else updated_fallback)
    sub(feed, "link", rel="self", href=f"{base_url}/feed.xml", type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=f"{base_url}/", type="text/html")
    author = sub(feed, "author")
    sub(author, "name", authority)
    for entry in entries:
        link = f"{base_url}/#meldung-{entry['id']}"
        item = sub(feed, "entry")
        sub(item, "id", link)
        sub(item, "title", ("Eilmeldung: " if entry["urgent"] else "") + title_of(entry["text"]))
        sub(item, "updated", entry["published_at"])
        sub(item, "published", entry["published_at"])
        sub(item, "link", rel="alternate", href=link, type="text/html")
        sub(item, "content", entry["text"], type="text")
        # A correction and what it corrects point at each other, where both are in the archive.
        for other in ([entry["corrects"]] if entry.get("corrects") else []) + list(
                entry.get("corrected_by") or []):
            sub(item, "link", rel="related", href=f"{base_url}/#meldung-{other['id']}",
                type="text/html")
        if entry["media_url"]:
            sub(item, "link", rel="enclosure", href=entry["media_url"])
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
