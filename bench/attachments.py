"""What checking a video or a PDF near the 16 MB limit costs the machine: the wall time of
``videos.clean`` (ffprobe reading every packet, ffmpeg writing the file anew, the poster frame)
and of ``documents.clean`` (pypdf in its own process: every page's content unpacked, the PDF
rebuilt), and the CPU time of the processes they ran.

    python bench/attachments.py [--rounds 3]

The files are made first: a video of random-looking frames (so that it does not compress) at
a bitrate that fills about 13 MB, and a PDF of 150 pages, each a noise picture (about 15 MB).
"""

import argparse
import io
import os
import resource
import statistics
import subprocess
import time
from pathlib import Path

from common import scratch_dir

from PIL import Image

from bot import documents, videos


def big_video(folder):
    path = folder / "big.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "nullsrc=size=1280x720:rate=25,geq=random(1)*255:128:128", "-f", "lavfi",
                    "-i", "sine", "-t", "20", "-c:v", "libx264", "-preset", "ultrafast",
                    "-b:v", "5800k", "-maxrate", "5800k", "-bufsize", "2M", "-pix_fmt",
                    "yuv420p", "-c:a", "aac", str(path)], check=True, timeout=300)
    return path.read_bytes()


def big_pdf(pages=150, side=400):
    frames = [Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
              for _ in range(pages)]
    out = io.BytesIO()
    frames[0].save(out, "PDF", save_all=True, append_images=frames[1:])
    return out.getvalue()


def measure(function, data, rounds):
    walls, cpus = [], []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        function(data)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folder = Path(scratch_dir("attachments"))
    cases = (("video, 1280×720, 20 s", videos.clean, big_video(folder)),
             ("PDF, 150 pages of pictures", documents.clean, big_pdf()))
    print("| file | size | wall time | CPU (checking processes) |\n|---|---|---|---|")
    for label, function, data in cases:
        wall, cpu = measure(function, data, args.rounds)
        print(f"| {label} | {len(data) / 1024 / 1024:.1f} MB | {wall:.2f} s | {cpu:.2f} s |")


if __name__ == "__main__":
    main()
