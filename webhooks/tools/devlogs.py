"""`webhooks dev`'s log: every service's lines into one file, and onto the terminal once shown."""

import sys
import threading
from collections import defaultdict, deque
from pathlib import Path
from subprocess import Popen
from typing import IO

TAIL_LINES = 40


class ChildLogs:
    """Copy each child's output, line by line, to the log file (and the terminal, once shown)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = path.open("w", encoding="utf-8")
        self._lock = threading.Lock()
        self._tails: dict[str, deque[str]] = defaultdict(lambda: deque(maxlen=200))
        self._threads: list[threading.Thread] = []
        self.showing = False

    def follow(self, name: str, child: "Popen[bytes]") -> None:
        """Start copying `child`'s output."""
        thread = threading.Thread(target=self._pump, args=(name, child), daemon=True)
        thread.start()
        self._threads.append(thread)

    def show(self, on: bool) -> None:
        """From now on, also print every line on the terminal (if `on`)."""
        self.showing = on

    def tail(self, name: str, lines: int = TAIL_LINES) -> str:
        """The last lines `name` wrote."""
        with self._lock:
            return "".join(list(self._tails[name])[-lines:])

    def close(self) -> None:
        """Wait for the children's last lines (they have exited), then close the file."""
        for thread in self._threads:
            thread.join(timeout=5)
        with self._lock:
            self._file.close()

    def _pump(self, name: str, child: "Popen[bytes]") -> None:
        assert child.stdout is not None
        for raw in child.stdout:
            line = raw.decode("utf-8", "replace")
            with self._lock:
                self._tails[name].append(line)
                if not self._file.closed:
                    self._file.write(f"{name:<7}| {line}")
                    self._file.flush()
                if self.showing:
                    sys.stdout.write(f"{name:<7}| {line}")
                    sys.stdout.flush()
