import socket
import threading
import time
import unittest

from pyharness_worker import liveness


class LivenessTest(unittest.TestCase):
    def test_echoes_while_another_thread_runs_python(self) -> None:
        ours, theirs = socket.socketpair()
        thread = liveness.start(theirs.detach())
        stop = threading.Event()

        def busy() -> None:  # a handler computing in Python
            while not stop.is_set():
                sum(range(1000))

        worker = threading.Thread(target=busy)
        worker.start()
        try:
            ours.settimeout(5)
            for n in range(5):
                ours.sendall(bytes([n]))
                self.assertEqual(ours.recv(1), bytes([n]))
        finally:
            stop.set()
            worker.join()
        ours.close()  # EOF ends the thread
        thread.join(timeout=5)
        self.assertFalse(thread.is_alive())


if __name__ == "__main__":
    unittest.main()
