"""Entry point of the SQLite writer process: ``python -m agora.storage.writer_main``.

Arguments: ``PATH BUSY_TIMEOUT_MS READ_FD WRITE_FD`` (the two pipe ends the parent passed).
A module of its own so that nothing imports it before ``-m`` runs it.
"""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

from agora.storage.sqlite_writer import serve


def main(argv: list[str]) -> None:
    """Serve commits on the given pipe ends until the parent closes them."""
    path, busy_timeout_ms, read_fd, write_fd = argv
    sys.stdout = sys.stderr  # stray output must never land in the protocol
    receive = Connection(int(read_fd), writable=False)
    send = Connection(int(write_fd), readable=False)
    serve(receive, send, path, int(busy_timeout_ms))


if __name__ == "__main__":
    main(sys.argv[1:])
