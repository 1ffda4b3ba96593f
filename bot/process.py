"""What a long-running process of the service (web worker, sender) sets up for itself."""

import gc

# Python's cyclic garbage collector runs its youngest generation every 700 allocations by
# default. A request or a message allocates a few hundred objects, nearly all freed at once by
# reference counting, so the collector ran several times per message and spent a tenth of the
# web worker's time scanning. Every 50,000 allocations it still runs many times a second.
GC_THRESHOLD = (50_000, 20, 20)


def tune_gc():
    """Call once the process has loaded what it keeps for its whole life: that is frozen out of
    the collector's scans, and young objects are collected less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
