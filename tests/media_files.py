"""Small videos and PDFs for the tests, made on the spot: valid ones carrying the metadata a
phone or an office program writes, and the bad ones the checks must refuse (a truncated MP4,
PDFs that unpack, branch or nest without end)."""

import io
import subprocess
import zlib

import pypdf
from PIL import Image

# What a phone and an office program write into the file, and must not reach citizens.
TRACES = (b"Erika Presse", b"+53.0420+008.7911", b"Handyhersteller", b"Amtsdrucker 3000",
          b"Textwerk Kreis", b"Interne Notiz", b"0151 2345678", b"vermerk")
# The one link on the PDF's first page that is to survive cleaning.
PDF_LINK = "https://www.landkreis-musterstadt.de/sperrung"

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\0" * 48 + b"This program " \
      b"cannot be run in DOS mode." + b"\0" * 400


def mp4(tmp_path, seconds=1, audio="aac", name="clip.mp4", faststart=True):
    """A small MP4 (H.264, and AAC audio unless ``audio`` says otherwise) made by ffmpeg, with
    the tags a phone writes (who, where, which phone)."""
    path = tmp_path / name
    audio_codec = {"aac": ["-c:a", "aac"], "mp3": ["-c:a", "libmp3lame"]}[audio]
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
         "testsrc=size=160x120:rate=10", "-f", "lavfi", "-i", "sine", "-t", str(seconds),
         "-c:v", "libx264", "-pix_fmt", "yuv420p", *audio_codec,
         "-metadata", "artist=Erika Presse", "-metadata", "location=+53.0420+008.7911/",
         "-metadata:s:v", "handler_name=Handyhersteller",
         *(["-movflags", "+faststart"] if faststart else []), str(path)],
        check=True, timeout=30)
    return path.read_bytes()


def pdf(pages=2):
    """A small PDF with a picture on its first page, with author, producer, creator and XMP,
    and on its first page what an office program's review leaves: a comment with its author
    and popup, an attached file, a link to a web address (the only thing to keep) and one
    that runs a script, article beads and a thumbnail."""
    out = io.BytesIO()
    Image.new("RGB", (200, 100), (200, 30, 30)).save(out, "PDF")
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(out.getvalue())))
    _review_traces(writer, writer.pages[0])
    for _ in range(pages - 1):
        writer.add_blank_page(200, 100)
    writer.add_metadata({"/Author": "Erika Presse", "/Producer": "Amtsdrucker 3000",
                         "/Creator": "Textwerk Kreis"})
    writer.xmp_metadata = (
        b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'xmlns:pdf="http://ns.adobe.com/pdf/1.3/" pdf:Producer="Amtsdrucker 3000"/></rdf:RDF>'
        b'</x:xmpmeta><?xpacket end="w"?>')
    result = io.BytesIO()
    writer.write(result)
    return result.getvalue()


def _review_traces(writer, page):
    from pypdf.generic import (ArrayObject, DecodedStreamObject, DictionaryObject, FloatObject,
                               NameObject, TextStringObject)

    def name(value):
        return NameObject(value)

    def add(entries):
        return writer._add_object(DictionaryObject(
            {name(k): v for k, v in entries.items()}))

    rect = ArrayObject([FloatObject(10), FloatObject(10), FloatObject(60), FloatObject(30)])
    attached = DecodedStreamObject()
    attached.set_data(b"Interne Notiz: Sachbearbeiter 0151 2345678")
    attached[name("/Type")] = name("/EmbeddedFile")
    filespec = add({"/Type": name("/Filespec"), "/F": TextStringObject("vermerk.txt"),
                    "/EF": DictionaryObject({name("/F"): writer._add_object(attached)})})
    popup = add({"/Type": name("/Annot"), "/Subtype": name("/Popup"), "/Rect": rect})
    author = TextStringObject("Erika Presse")
    page[name("/Annots")] = ArrayObject([
        add({"/Type": name("/Annot"), "/Subtype": name("/Text"), "/Rect": rect, "/T": author,
             "/Contents": TextStringObject("Interne Notiz: erst nach Freigabe"),
             "/Popup": popup}),
        popup,
        add({"/Type": name("/Annot"), "/Subtype": name("/FileAttachment"), "/Rect": rect,
             "/FS": filespec, "/T": author}),
        add({"/Type": name("/Annot"), "/Subtype": name("/Link"), "/Rect": rect, "/T": author,
             "/Contents": TextStringObject("Interne Notiz zum Link"), "/Popup": popup,
             "/A": DictionaryObject({name("/S"): name("/URI"),
                                     name("/URI"): TextStringObject(PDF_LINK)})}),
        add({"/Type": name("/Annot"), "/Subtype": name("/Link"), "/Rect": rect,
             "/A": DictionaryObject({name("/S"): name("/JavaScript"),
                                     name("/JS"): TextStringObject("app.alert('Interne Notiz')")})}),
    ])
    page[name("/B")] = ArrayObject([add({"/T": author})])
    page[name("/Thumb")] = writer._add_object(attached)


def _raw_pdf(objects):
    out = b"%PDF-1.7\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)


def pdf_bomb(megabytes=80):
    """A PDF of some 80 KB whose one page's content unpacks to ``megabytes`` of zeros."""
    packer = zlib.compressobj(9)
    chunk = b"\0" * (1 << 20)
    packed = b"".join(packer.compress(chunk) for _ in range(megabytes)) + packer.flush()
    return _raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed
        + b"\nendstream"])


def pdf_of_ten_billion_pages():
    """Ten levels of page-tree nodes, each naming the next ten times: 10^10 pages in 2 KB."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for level in range(10):
        objects.append(b"<< /Type /Pages /Kids [" + b" ".join([b"%d 0 R" % (level + 3)] * 10)
                       + b"] /Count %d >>" % 10 ** (10 - level))
    objects.append(b"<< /Type /Page /MediaBox [0 0 10 10] >>")
    return _raw_pdf(objects)


def pdf_that_hides_its_pages():
    """A tree of 10,000 pages, each node claiming to hold one."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for level in range(4):
        objects.append(b"<< /Type /Pages /Kids [" + b" ".join([b"%d 0 R" % (level + 3)] * 10)
                       + b"] /Count 1 >>")
    objects.append(b"<< /Type /Page /MediaBox [0 0 10 10] >>")
    return _raw_pdf(objects)


def pdf_nested(depth=100_000):
    """A catalog with an array nested 100,000 deep."""
    return _raw_pdf([b"<< /Type /Catalog /Pages 2 0 R /X " + b"[" * depth + b"]" * depth
                     + b" >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                     b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>"])
