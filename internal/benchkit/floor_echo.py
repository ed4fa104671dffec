"""The floor of a round trip: echo length-prefixed frames (a 4-byte
big-endian length, then the payload) back on the socket at fd 3, with no
JSON, no dispatch and no protocol (stdlib only, nothing of pyharness_worker
imported, so work on the worker does not move the floor).

The floor row of `pyharness bench` and the realpy benchmarks' BareEcho; run
as python3 -c SOURCE.
"""

import socket
import struct
import sys


def main() -> int:
    header = struct.Struct(">I")
    sock = socket.socket(fileno=3)
    stream = sock.makefile("rb", buffering=1 << 16)
    try:
        while True:
            head = stream.read(header.size)
            if len(head) < header.size:
                return 0
            (size,) = header.unpack(head)
            sock.sendall(head + stream.read(size))
    finally:
        stream.close()
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
