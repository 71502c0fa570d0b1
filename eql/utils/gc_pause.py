"""Pausing Python's cyclic garbage collector while millions of small objects are built."""

import contextlib
import gc


@contextlib.contextmanager
def gc_paused():
    """Pauses the cyclic garbage collector for the block. Building ~10^6 dicts and lists (a parsed
    LVIS json, its records, per-detection dicts) otherwise triggers full collections that walk
    every object already built, again and again; these objects hold no reference cycles, so
    nothing is left for the collector when it resumes."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
