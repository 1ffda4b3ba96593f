"""What the picture cleaner costs for the largest pictures it accepts (40 megapixels), and for one
just above, which it refuses on its header.

    python bench/pictures.py [--rounds 3]

Each case runs in a process of its own, so that its peak memory (the high-water mark of the
process, less what the process held before cleaning) is its own. Prints the CPU time (median of
the rounds) and the peak memory of ``images.clean`` per case.
"""

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, scratch_dir

from PIL import Image

# 7,999 × 5,000 = 39,995,000 pixels: just below the limit.
BELOW = (7999, 5000)
ABOVE = (8000, 5001)


def gradient(size, mode="RGB"):
    grey = Image.linear_gradient("L").resize(size)
    return Image.merge(mode, [grey, grey.transpose(Image.Transpose.FLIP_LEFT_RIGHT), grey,
                              grey][:len(mode)])


def textured(size):
    """Detail that makes a re-encoded JPEG larger than 5 MB, so that the cleaner scales it."""
    tile = Image.frombytes("RGB", (500, 500), os.urandom(500 * 500 * 3))
    picture = Image.new("RGB", size)
    for x in range(0, size[0], 500):
        for y in range(0, size[1], 500):
            picture.paste(tile, (x, y))
    return picture


def jpeg(picture, quality, orientation=None):
    out = io.BytesIO()
    extra = {}
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        extra["exif"] = exif.tobytes()
    picture.save(out, "JPEG", quality=quality, **extra)
    return out.getvalue()


def png(picture):
    out = io.BytesIO()
    picture.save(out, "PNG", compress_level=9)
    return out.getvalue()


def textured_jpeg_below_5_mb(size):
    picture = textured(size)
    for quality in range(60, 4, -2):
        data = jpeg(picture, quality)
        if len(data) <= 5 * 1024 * 1024:
            return data
    raise SystemExit("no quality makes the textured picture fit 5 MB")


def cases():
    return {
        "JPEG 40 MP, smooth": lambda: jpeg(gradient(BELOW), 85),
        "JPEG 40 MP, smooth, turned (EXIF 6)": lambda: jpeg(gradient(BELOW), 85, 6),
        "JPEG 40 MP, detailed (scaled to fit 5 MB)": lambda: textured_jpeg_below_5_mb(BELOW),
        "PNG 40 MP, RGB": lambda: png(gradient(BELOW)),
        "PNG 40 MP, RGBA": lambda: png(gradient(BELOW, "RGBA")),
        "PNG 40.008 MP (refused)": lambda: png(Image.new("RGB", ABOVE)),
    }


def high_water_mb():
    """The process's peak resident memory. Not getrusage's ru_maxrss: Linux keeps that across
    exec, so a child would inherit the peak of the parent that made the 40 MP pictures."""
    status = Path("/proc/self/status").read_text()
    [line] = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1]) / 1024


def measure(path, rounds):
    """In the child: clean the file ``rounds`` times; CPU seconds and peak memory."""
    sys.path.insert(0, str(ROOT))
    from bot import images

    data = Path(path).read_bytes()
    before = high_water_mb()
    seconds, outcome = [], None
    for _ in range(rounds):
        start = time.process_time()
        try:
            cleaned = images.clean(data)
            outcome = f"{cleaned.width} × {cleaned.height}, {len(cleaned.data):,} bytes"
        except images.InvalidImage as exc:
            outcome = f"refused: {exc}"
        seconds.append(time.process_time() - start)
    print(json.dumps({"cpu": statistics.median(seconds), "peak_mb": high_water_mb() - before,
                      "outcome": outcome}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure(args.measure, args.rounds)
    workdir = Path(scratch_dir("infokanal-pictures-"))
    print(f"{'case':44} {'file':>9} {'CPU (median)':>13} {'peak memory':>12}  outcome")
    for name, make in cases().items():
        path = workdir / "input"
        path.write_bytes(make())
        done = subprocess.run([sys.executable, __file__, "--measure", str(path),
                               "--rounds", str(args.rounds)],
                              capture_output=True, text=True, check=True, timeout=600)
        figures = json.loads(done.stdout)
        print(f"{name:44} {path.stat().st_size / 1e6:>7.2f}MB {figures['cpu']:>11.2f} s "
              f"{figures['peak_mb']:>9.0f} MB  {figures['outcome']}")


if __name__ == "__main__":
    main()
