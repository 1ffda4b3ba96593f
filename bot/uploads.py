"""What the press office may attach to a broadcast besides a picture (``images``): one video
(``videos``) or one PDF (``documents``). What they share lives here: the size limits, which
kind a file is by its first bytes, the one exception a refusal raises, and how a checker is run
on a file nobody has vouched for.

Every check runs in a process of its own, with a limit on its memory, its CPU time and its
wall time: a file built to make a parser work for hours or take gigabytes (a PDF whose streams
unpack a thousandfold, a page tree of a million pages, a video with a billion tiny frames)
then ends that process, never the web worker, and is refused.

A leaf module: bytes in, bytes out, no database.
"""

import os
import subprocess
import tempfile

# WhatsApp's limit for a video, and Twilio's for any media; Meta would take a 100 MB document,
# but the file goes through Twilio on the other platform, and the same post should be sendable
# on either.
MAX_BYTES = 16 * 1024 * 1024
# The request that carries one may be a little larger (the form around it).
UPLOAD_BODY_LIMIT = MAX_BYTES + 256 * 1024
# What a checking process may take: enough for a 16 MB file and its parser, far below what
# would starve the web workers.
CHECK_MEMORY = 768 * 1024 * 1024
CHECK_CPU_SECONDS = 20
CHECK_SECONDS = 30.0

_STILL_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
VIDEO = "video"
PDF = "pdf"
PICTURE = "picture"


class InvalidFile(Exception):
    """Not a file we send; the message says why, in plain English."""


class CheckFailed(Exception):
    """The checking process gave up: it ran out of time or memory, or ended with an error.
    ``output`` is what it wrote to stderr (for the log, never for the press office)."""

    def __init__(self, reason, output=b""):
        super().__init__(reason)
        self.output = output


def kind_of(data):
    """Which kind of file ``data`` claims to be by its first bytes (the name it was uploaded
    under says nothing): VIDEO for an ISO media file (MP4), PDF, else PICTURE (``images``
    decides whether it is one)."""
    # HEIC and AVIF pictures are ISO media files too (a phone's photos): pictures, which
    # ``images`` refuses with its reason.
    if data[4:8] == b"ftyp" and data[8:12] not in _STILL_BRANDS:
        return VIDEO
    # A PDF may have a few bytes before its header; readers look within the first kilobyte.
    if b"%PDF-" in data[:1024]:
        return PDF
    return PICTURE


def too_large(size):
    return (f"the file has {size} bytes; at most {MAX_BYTES} (16 MB) are accepted for a video "
            "or a PDF")


def run_bounded(command, data=None, stdin=None, env=None, suffix=""):
    """Run ``command`` (a list) under the limits above; returns (stdout, stderr, the bytes of
    the file it wrote or None).

    With ``data``, it is written to a temporary file first (a video is read with seeking,
    which a pipe cannot do), which ``{in}`` in the command names (with ``suffix``); ``{out}``
    names a file in the same temporary folder for the process to write. Otherwise ``stdin``
    is the process's input. The limits are set by ``prlimit`` (util-linux) in the child,
    before it runs the command: no Python code runs between fork and exec, which is unsafe in
    a process with threads. Raises CheckFailed.
    """
    limited = ["prlimit", f"--as={CHECK_MEMORY}", f"--cpu={CHECK_CPU_SECONDS}",
               f"--fsize={2 * MAX_BYTES}", "--core=0", "--"]
    if data is None:
        stdout, stderr = _run(limited + command, stdin, env)
        return stdout, stderr, None
    with tempfile.TemporaryDirectory(prefix="infokanal-check-") as folder:
        source, target = os.path.join(folder, "in" + suffix), os.path.join(folder, "out" + suffix)
        with open(source, "wb") as handle:
            handle.write(data)
        stdout, stderr = _run(limited + [part.replace("{in}", source).replace("{out}", target)
                                         for part in command], None, env)
        written = None
        if os.path.exists(target):
            with open(target, "rb") as handle:
                written = handle.read(MAX_BYTES + 1)
        return stdout, stderr, written


def _run(command, stdin, env):
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, timeout=CHECK_SECONDS,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                   "LC_ALL": "C.UTF-8", **(env or {})}, check=False)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"took longer than {CHECK_SECONDS:.0f} seconds") from None
    if done.returncode < 0 or done.returncode > 128:
        raise CheckFailed("ran out of time or memory", done.stderr)
    if done.returncode != 0:
        raise CheckFailed(f"ended with {done.returncode}", done.stderr)
    return done.stdout, done.stderr
