"""Liveness: a thread that echoes bytes on a socket of its own.

The Go side's health check writes a byte and waits for it to come back. The
thread answers while a handler runs Python code (the interpreter switches
threads every few milliseconds), so a slow handler is not taken for a stuck
worker; it cannot answer when the process is stopped (SIGSTOP) or stuck in C
code that holds the GIL, which is what the health check is for.
"""

import socket
import threading


def _echo(sock: socket.socket) -> None:
    try:
        while True:
            data = sock.recv(64)
            if not data:
                return
            sock.sendall(data)
    except OSError:
        return
    finally:
        sock.close()


def start(fd: int) -> threading.Thread:
    """Echo on the stream socket fd, on a daemon thread, until EOF."""
    sock = socket.socket(fileno=fd)
    thread = threading.Thread(target=_echo, args=(sock,), name="pyharness-liveness", daemon=True)
    thread.start()
    return thread
