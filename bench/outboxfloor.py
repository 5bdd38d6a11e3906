"""The least writing a digest to the outbox can cost: the files alone.

    python bench/outboxfloor.py FOLDER COUNT MESSAGE

Run by bench.run as the "outboxfloor" scenario, beside the outbox rows: writes
COUNT copies of the message file MESSAGE (one publisher wrote in the same run,
so of the same size) into FOLDER, which must not exist yet, each as the outbox
writes its files: a fixed temp name created 0600, the bytes written, no fsync,
then renamed to its own name. Nothing is composed and nothing recorded, so
the time is what this disk asks for the files alone: whatever publisher adds
is composing each message and recording it in the ledger.
"""

from __future__ import annotations

import os
import sys


def main(folder: str, count: int, message: str) -> int:
    with open(message, "rb") as handle:
        data = handle.read()
    os.mkdir(folder, 0o700)
    tmp = os.path.join(folder, ".message.tmp")
    for index in range(count):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(folder, f"message-{index:07d}.eml"))
    print(f"{count} messages of {len(data)} bytes written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
