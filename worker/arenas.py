"""Fewer malloc arenas for a worker's threads, so its memory stays flat as it runs."""

import ctypes
import ctypes.util
import os

# glibc's mallopt() parameter for the most arenas (malloc.h).
M_ARENA_MAX = -8
# glibc gives each thread that meets a locked arena a new one, up to eight per core: 25
# threads fragment as many, and a worker's resident memory grew by a fifth from 10,000 to
# 100,000 deliveries. With two it grew by 3 % (`python -m bench memory`).
ARENAS = 2


def limit_malloc_arenas() -> None:
    """Cap glibc's malloc arenas, unless MALLOC_ARENA_MAX says otherwise; no-op elsewhere."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return  # glibc read it at start: the operator's choice stands
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(M_ARENA_MAX, ARENAS)
    except (OSError, AttributeError):
        pass  # not glibc (musl, macOS): their allocators have no such setting
