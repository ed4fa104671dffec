"""Fork server: import heavy modules once, then fork a worker per connection.

    python3 -m pyharness_worker.zygote --listen PATH [--fd 3] [--preload numpy] [--module m]

The zygote imports the --preload and --module modules, listens on a Unix
socket (--listen) or TCP address (--listen-tcp HOST:PORT), and serves control
requests on --fd (its owner: EOF there ends the zygote). Each accepted
connection sends one first frame:

- {"method": "fork", "args": {"worker_id": ID}}: the zygote forks; the child
  answers that request as ping would and serves the connection as a worker;
- {"method": "control"}: the connection becomes a control connection.

Control requests: ping, info, fork_safety, wait {pid} (answered once the
child has been reaped), kill {pid, signal}, shutdown. Forked children run in a
process group of their own and are killed (PR_SET_PDEATHSIG) if the zygote dies.

Spares (--spares N, what a warm host runs with): once the zygote has been
quiet (no child, no control connection, no pending connection) for
SPARE_SETTLE seconds, it forks as many spare workers as it served fork
requests since it last did so, at most N, if forking is safe then. A spare is
a fork that has done everything a forked worker does before it knows its
request (closed the zygote's descriptors, PDEATHSIG, in the zygote's process
group, named "pyh:spare"), and waits on a socket pair of its own. A fork
request (mode "fork" or "unchecked", after the same fork-safety check) takes
a spare: the connection, the request's output descriptors and its fields
(request id, worker id, owner, serving options) go to the spare over its
socket (SCM_RIGHTS), and the spare goes on exactly as a child forked then
would (its name, its own process group, the output descriptors, a fresh
random seed, PYHARNESS_WORKER_ID, liveness, the greeting). Spares are not
children of any requester: they keep no zygote busy, and die with it.

Before each fork the zygote checks that forking is safe (forksafe.py: no
thread but its own, or only threads of libraries that survive fork). A fork
request whose "mode" is "fork" (the default) is refused with a ForkUnsafe
error when it is not; "spawn" starts a fresh interpreter instead (exec, not a
bare fork: it imports the modules itself), served and watched as a forked
child is; "unchecked" forks whatever the check says.
"""

import argparse
import ctypes
import fcntl
import hmac
import os
import platform
import random
import selectors
import signal
import socket
import struct
import sys
import time
import traceback
from typing import Any, Dict, List, Optional, Tuple

from . import DEFAULT_MAX_FRAME, PROTOCOL_VERSION, forksafe, liveness, max_frame_arg, phase, startfail
from .framing import HEADER, FrameTooLarge, ProtocolViolation, dumps, encode_frame, loads, read_exact, read_frame
from .handlers import handlers_of, import_named
from .server import DEFAULT_SLOW_CALLBACK, EXIT_OK, EXIT_START_FAILED, run

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
FIRST_FRAME_TIMEOUT = 10.0
LISTEN_BACKLOG = 4096
ACCEPT_BATCH = 64  # connections taken per wake-up before the others get a turn
# A first frame (fork or control) is small; a bigger one is not ours.
MAX_FIRST_FRAME = 64 << 10
# The secret connections must prove they know, given by the Go side.
SECRET_ENV = "PYHARNESS_ZYGOTE_SECRET"
EXIT_CHILD_FAILED = 70
# Quiet this long before spares are forked: a run's processes attach one
# after another within it, so no spare is forked in the middle of a run.
SPARE_SETTLE = 0.05
SPARE_NAME = "pyh:spare"


def _log(message: str) -> None:
    sys.stderr.write(f"pyharness_zygote[{os.getpid()}]: {message}\n")
    sys.stderr.flush()


def _error(kind: str, type_name: str, message: str) -> Dict[str, str]:
    return {"kind": kind, "type": type_name, "message": message, "traceback": ""}


def _set_pdeathsig(sig: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: rely on EOF instead
        pass


def _set_name(name: str) -> None:
    """Set the process name (comm, 15 bytes): how a leak check on the host
    tells which process asked for this fork."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _comm() -> str:
    """This process's name (comm), or "" where /proc has none."""
    try:
        with open("/proc/self/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def take_secret() -> str:
    """Remove the zygote's secret from this process's environment and return it.

    Popping it from os.environ is not enough: posix.environ keeps a copy, and
    /proc/<pid>/environ shows the environment block the process was started
    with, which every forked worker inherits. That block is overwritten in
    place (NULs), so no forked worker, handler or reader of /proc sees it.
    """
    secret = os.environ.pop(SECRET_ENV, "")
    posix = sys.modules.get("posix")  # os.environ's source, a copy of its own
    if posix is not None:
        posix.environ.pop(SECRET_ENV.encode(), None)
    if not _scrub_environ_block(SECRET_ENV.encode() + b"="):
        _log(f"could not remove {SECRET_ENV} from /proc/{os.getpid()}/environ: forked workers' environ still shows it")
    return secret


def _scrub_environ_block(prefix: bytes) -> bool:
    """Overwrite every entry starting with prefix in the environment block
    /proc/self/environ shows (between env_start and env_end of
    /proc/self/stat). False if it could not be done (not Linux, no /proc)."""
    try:
        with open("/proc/self/environ", "rb") as f:
            block = f.read()
    except OSError:
        return True  # no /proc: nothing there to show
    offsets = []
    at = 0
    for entry in block.split(b"\0"):
        if entry.startswith(prefix):
            offsets.append((at, len(entry)))
        at += len(entry) + 1
    if not offsets:
        return True
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        fields = stat[stat.rindex(b")") + 2 :].split()
        env_start, env_end = int(fields[47]), int(fields[48])  # fields 50 and 51 of proc(5)
    except (OSError, ValueError, IndexError):
        return False
    if env_start == 0 or env_end - env_start < len(block):
        return False
    try:
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(env_start)
            if mem.read(len(block)) != block:
                return False
            for off, n in offsets:
                mem.seek(env_start + off)
                mem.write(b"\0" * n)
    except OSError:
        try:  # /proc/self/mem not writable here: the block is our own memory
            if ctypes.string_at(env_start, len(block)) != block:
                return False
            for off, n in offsets:
                ctypes.memset(env_start + off, 0, n)
        except (OSError, ValueError):
            return False
    return True


def _limit_of(errno: Optional[int]) -> str:
    """The zygote's limit a failed fork ran into, as the Go side reads it
    (realpy/resource.go): " (zygote pid N: RLIMIT_AS 1024 (hard unlimited))"."""
    import errno as errnos
    import resource

    name = {errnos.ENOMEM: "RLIMIT_AS", errnos.EAGAIN: "RLIMIT_NPROC", errnos.EMFILE: "RLIMIT_NOFILE"}.get(errno or 0)
    if name is None:
        return ""

    def text(v: int) -> str:
        return "unlimited" if v == resource.RLIM_INFINITY else str(v)

    try:
        soft, hard = resource.getrlimit(getattr(resource, name))
    except (OSError, ValueError, AttributeError):
        return f" (zygote pid {os.getpid()})"
    return f" (zygote pid {os.getpid()}: {name} {text(soft)} (hard {text(hard)}))"


def _reseed() -> None:
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        try:
            numpy.random.seed()
        except Exception:  # a numpy without the legacy global state
            pass


def _decode_status(status: int) -> Tuple[int, int]:
    """(exit code or 128+signal, signal or 0), the convention of the Go side."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, sig
    return os.WEXITSTATUS(status), 0


class Conn:
    """A socket with unbuffered frame reads, so select() never misses buffered data."""

    def __init__(self, sock: socket.socket, max_frame: int) -> None:
        self.sock = sock
        self.raw = sock.makefile("rb", buffering=0)
        self.max_frame = max_frame

    def read(self) -> Any:
        return loads(read_frame(self.raw, self.max_frame))

    def read_with_fds(self, maxfds: int) -> Tuple[Any, List[int]]:
        """Read one frame and the file descriptors sent with its first bytes
        (SCM_RIGHTS over a Unix socket; none over TCP)."""
        fds: List[int] = []
        header = b""
        if self.sock.family == socket.AF_UNIX:
            data, fds, _, _ = socket.recv_fds(self.sock, HEADER.size, maxfds)
            if not data:
                raise EOFError("end of stream")
            header = data
        rest = read_exact(self.raw, HEADER.size - len(header)) if len(header) < HEADER.size else b""
        header += rest
        if len(header) < HEADER.size:
            raise ProtocolViolation("stream ended inside a frame header")
        (size,) = HEADER.unpack(header)
        if size > self.max_frame:
            raise FrameTooLarge(size, self.max_frame)
        payload = read_exact(self.raw, size)
        if len(payload) != size:
            raise ProtocolViolation(f"stream ended inside a {size}-byte frame")
        return loads(payload), list(fds)

    def send(self, envelope: Dict[str, Any]) -> None:
        self.sock.sendall(encode_frame(dumps(envelope), self.max_frame))

    def close(self) -> None:
        for closer in (self.raw.close, self.sock.close):
            try:
                closer()
            except OSError:
                pass


class Pending:
    """A connection whose first frame (fork or control) has not fully arrived."""

    def __init__(self, sock: socket.socket, peer: Any, deadline: float) -> None:
        self.sock = sock
        self.peer = peer
        self.deadline = deadline
        self.buf = b""
        self.fds: List[int] = []


class Zygote:
    def __init__(self, listener: socket.socket, owner: Optional[socket.socket], zygote_id: str,
                 max_frame: int, modules: List[str], preload: List[str], address: str,
                 peer_uids: Tuple[int, ...] = (), idle_exit: float = 0.0, watch_owners: bool = False,
                 secret: Optional[str] = None, checker: Optional[forksafe.Checker] = None) -> None:
        self.listener = listener
        self.checker = checker if checker is not None else forksafe.Checker()
        self.spawned = 0  # children started by exec in place of a fork (mode "spawn")
        self.zygote_id = zygote_id
        self.max_frame = max_frame
        self.modules = modules
        self.preload = preload
        self.address = address
        self.started = time.monotonic()
        self.pid = os.getpid()
        self.children: Dict[int, str] = {}
        self.statuses: Dict[int, Tuple[int, int]] = {}
        self.waiters: Dict[int, List[Tuple[Conn, int]]] = {}
        self.forked = 0
        self.controls: List[Conn] = []
        self.owner = Conn(owner, max_frame) if owner is not None else None
        self.sel = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.stopping = False
        self.pending: List["Pending"] = []
        self.rejected = 0
        # The secret every connection's first frame must carry (PYHARNESS_ZYGOTE_SECRET),
        # kept out of the environment of forked workers and their handlers
        # (main takes it before any module is imported: take_secret).
        self.secret = take_secret() if secret is None else secret
        self.peer_uids = set(peer_uids)
        # A host kept between runs ends itself after idle_exit seconds with
        # nobody attached and no child, and kills the children of requesters
        # that died (watch_owners: their pids are ours to watch).
        self.idle_exit = idle_exit
        self.idle_since = time.monotonic()
        self.last_used = time.monotonic()  # the last fork, or the last child's end
        self.watch_owners = watch_owners
        self.owners: Dict[int, Any] = {}  # owner pid -> its pidfd
        self.owned: Dict[int, int] = {}  # child pid -> owner pid
        self.imported = self._snapshot()
        self.owner_pidfd: Optional[int] = None
        # Held: the zygote lives while any held process does (a test binary,
        # the `go test` command running them), then ends as soon as nobody
        # is attached. Off until the first hold request.
        self.holders: Dict[int, int] = {}  # held pid -> its pidfd
        self.release_exit = False
        self.record = ""  # a warm host's record file (--record)
        # Spares (--spares): pid -> the zygote's end of its socket pair.
        self.spare_cap = 0
        self.spares: Dict[int, socket.socket] = {}
        self.spare_target = 0  # how many to keep: the fork requests served since the last refill
        self.served = 0  # fork requests served (forked or from a spare) since the last refill
        self.from_spares = 0  # fork requests a spare served
        self.spares_forked = 0
        self.quiet_since: Optional[float] = None
        self.killed_spares: set = set()  # killed, not reaped yet

    # -- loop ----------------------------------------------------------------

    def serve(self) -> int:
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        self.sel.register(self.listener, selectors.EVENT_READ, "accept")
        self.sel.register(self.wake_r, selectors.EVENT_READ, "reap")
        if self.owner is not None:
            self.controls.append(self.owner)
            self.sel.register(self.owner.sock, selectors.EVENT_READ, self.owner)
            # A backstop to EOF on the owner's channel: the owner process's
            # end, seen through a pidfd, stops the zygote too.
            owner_pid = os.environ.get("PYHARNESS_OWNER_PID", "")
            if owner_pid.isdigit():
                try:
                    self.owner_pidfd = os.pidfd_open(int(owner_pid))
                    self.sel.register(self.owner_pidfd, selectors.EVENT_READ, "owner-gone")
                except (OSError, AttributeError):
                    pass
        self.reap()
        while not self.stopping:
            timeout = self.expire()
            spare_wait = self.tend_spares()
            if spare_wait is not None:
                timeout = spare_wait if timeout is None else min(timeout, spare_wait)
            if self.release_exit and not self.holders and not self.busy():
                _log("every held process has ended and nobody is attached: exiting")
                self.forget_record()
                return EXIT_OK
            if self.idle_exit > 0:
                if self.busy():
                    self.idle_since = time.monotonic()
                else:
                    left = self.idle_since + self.idle_exit - time.monotonic()
                    if left <= 0:
                        _log(f"idle for {self.idle_exit:.0f} s: exiting")
                        return EXIT_OK
                    timeout = left if timeout is None else min(timeout, left)
            for key, _ in self.sel.select(timeout):
                if isinstance(key.data, Pending):
                    self.first_frame(key.data)
                elif isinstance(key.data, tuple) and key.data[0] == "owner":
                    self.owner_gone(key.data[1])
                elif isinstance(key.data, tuple) and key.data[0] == "held":
                    self.release(key.data[1])
                elif key.data == "owner-gone":
                    _log("the owner process is gone: exiting")
                    return EXIT_OK
                elif key.data == "accept":
                    self.accept()
                elif key.data == "reap":
                    try:
                        os.read(self.wake_r, 4096)
                    except BlockingIOError:
                        pass
                    self.reap()
                else:
                    if not self.control(key.data):
                        return EXIT_OK
        return EXIT_OK

    def tend_spares(self) -> Optional[float]:
        """Fork the spares the next run will take, once the zygote has been
        quiet for SPARE_SETTLE; return how long until it would (None: no
        wait needed)."""
        if self.spare_cap <= 0:
            return None
        if self.busy():
            self.quiet_since = None
            return None
        now = time.monotonic()
        if self.quiet_since is None:
            self.quiet_since = now
        if self.served == 0:
            return None  # nothing served since the last refill: the target stands
        left = self.quiet_since + SPARE_SETTLE - now
        if left > 0:
            return left
        self.spare_target = min(self.spare_cap, self.served)
        self.served = 0
        self.fill_spares()
        return None

    def fill_spares(self) -> None:
        """Fork spares up to spare_target, if forking is safe now; kill
        those beyond it (the last run took fewer)."""
        while len(self.spares) > self.spare_target:
            pid, sock = self.spares.popitem()
            sock.close()
            self.kill_spare(pid)
        while len(self.spares) < self.spare_target:
            if not self.checker.verdict().safe:
                return
            if not self.fork_spare():
                return

    def fork_spare(self) -> bool:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            pid = os.fork()
        except OSError as exc:
            _log(f"forking a spare failed: {exc}{_limit_of(exc.errno)}")
            ours.close()
            theirs.close()
            return False
        if pid == 0:
            ours.close()
            self.become_spare(theirs)
        theirs.close()
        self.spares[pid] = ours
        self.spares_forked += 1
        return True

    def become_spare(self, sock: socket.socket) -> None:
        """In a spare: everything a forked worker does before it knows its
        request, then wait for one (EOF: exit)."""
        code = EXIT_CHILD_FAILED
        try:
            name = _comm()
            _set_name(SPARE_NAME)
            _set_pdeathsig(signal.SIGKILL)
            if os.getppid() != self.pid:
                os._exit(EXIT_CHILD_FAILED)
            self.detach_child()
            msg = b""
            fds: List[int] = []
            while True:
                data, got, _, _ = socket.recv_fds(sock, 1 << 16, 4)
                fds.extend(got)
                if not data:
                    os._exit(EXIT_OK)  # the zygote closed it, or ended
                msg += data
                if len(msg) >= HEADER.size and len(msg) >= HEADER.size + HEADER.unpack(msg[: HEADER.size])[0]:
                    break
            sock.close()
            order = loads(msg[HEADER.size:])
            conn = Conn(socket.socket(fileno=fds[0]), self.max_frame)
            owner = order.get("owner")
            if not isinstance(owner, int) and name:
                _set_name(name)  # a fork for nobody in particular keeps the zygote's name
            self.become_worker(conn, int(order["rid"]), str(order["worker_id"]), owner if isinstance(owner, int) else None,
                               fds[1:], order.get("serving") or {}, detached=True)
        except BaseException:
            traceback.print_exc()
        os._exit(code)

    def take_spare(self, conn: Conn, rid: int, worker_id: str, owner: Optional[int], output: List[int],
                   serving: Optional[Dict[str, Any]]) -> Optional[int]:
        """Hand the request to a spare; its pid, or None when no spare could take it."""
        while self.spares:
            pid, sock = self.spares.popitem()
            order = {"rid": rid, "worker_id": worker_id, "owner": owner, "serving": serving or {}}
            try:
                socket.send_fds(sock, [encode_frame(dumps(order), MAX_FIRST_FRAME)], [conn.sock.fileno(), *output])
            except OSError as exc:
                _log(f"spare {pid} could not take a fork request: {exc}")
                self.kill_spare(pid)
                continue
            finally:
                sock.close()
            return pid
        return None

    def kill_spare(self, pid: int) -> None:
        self.killed_spares.add(pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop_spares(self) -> None:
        """Kill every spare (shutdown, exit): none outlives the zygote."""
        for pid, sock in list(self.spares.items()):
            sock.close()
            self.kill_spare(pid)
        self.spares.clear()

    def busy(self) -> bool:
        """Whether anyone uses the zygote: a child, a control connection, a
        connection being accepted."""
        return bool(self.children or self.pending or [c for c in self.controls if c is not self.owner])

    def watch_owner(self, owner: int, child: int) -> None:
        """Kill child when owner ends (a test run killed outright)."""
        self.owned[child] = owner
        if owner in self.owners:
            return
        try:
            fd = os.pidfd_open(owner)
        except (OSError, AttributeError):
            return
        self.owners[owner] = fd
        self.sel.register(fd, selectors.EVENT_READ, ("owner", owner))

    def hold(self, pid: int) -> bool:
        """Live while pid does; False when pid cannot be watched (gone)."""
        self.release_exit = True
        if pid in self.holders:
            return True
        try:
            fd = os.pidfd_open(pid)
        except (OSError, AttributeError):
            return False
        self.holders[pid] = fd
        self.sel.register(fd, selectors.EVENT_READ, ("held", pid))
        return True

    def forget_record(self) -> None:
        """Remove the host's record (--record) if it still names this
        process: a host that ended because its run did leaves nothing that
        looks like a host that died."""
        if not self.record:
            return
        try:
            with open(self.record, "rb") as f:
                record = loads(f.read())
            if not isinstance(record, dict) or record.get("pid") != self.pid:
                return
            os.remove(self.record)
        except (OSError, ProtocolViolation):
            pass

    def release(self, pid: int) -> None:
        fd = self.holders.pop(pid)
        self.sel.unregister(fd)
        os.close(fd)

    def owner_gone(self, owner: int) -> None:
        fd = self.owners.pop(owner)
        self.sel.unregister(fd)
        os.close(fd)
        for child, who in list(self.owned.items()):
            if who == owner:
                del self.owned[child]
                if child in self.children:
                    _log(f"killing worker {child}: its requester {owner} is gone")
                    try:
                        os.killpg(child, signal.SIGKILL)
                    except ProcessLookupError:
                        pass

    def imports(self) -> List[Tuple[str, int, int]]:
        """(file, size, mtime_ns) of every module imported when the zygote
        started, as they were then: a check against the disk tells whether
        it is stale."""
        return self.imported

    @staticmethod
    def _snapshot() -> List[Tuple[str, int, int]]:
        seen = set()
        out = []
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if not isinstance(path, str) or path in seen:
                continue
            seen.add(path)
            try:
                st = os.stat(path)
            except OSError:
                continue
            out.append((path, st.st_size, st.st_mtime_ns))
        return sorted(out)

    def accept(self) -> None:
        """Take the new connections (up to ACCEPT_BATCH a turn); each one's
        first frame is read as it arrives, alongside every other
        connection's, so a silent one costs nothing but its slot until
        FIRST_FRAME_TIMEOUT drops it."""
        self.listener.setblocking(False)
        for _ in range(ACCEPT_BATCH):
            try:
                sock, peer = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                _log(f"accept: {exc}")
                return
            if sock.family == socket.AF_UNIX and not self._peer_allowed(sock):
                continue
            sock.setblocking(False)
            pending = Pending(sock, peer, time.monotonic() + FIRST_FRAME_TIMEOUT)
            self.pending.append(pending)
            self.sel.register(sock, selectors.EVENT_READ, pending)

    def _peer_allowed(self, sock: socket.socket) -> bool:
        """Over a Unix socket, only this user, root and --peer-uid may connect."""
        try:
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        except (OSError, AttributeError):
            return True  # no peer credentials on this platform
        pid, uid, _ = struct.unpack("3i", creds)
        if uid in (os.getuid(), 0) or uid in self.peer_uids:
            return True
        self.reject(sock, f"uid {uid} (pid {pid}) may not connect")
        return False

    def reject(self, sock: socket.socket, why: str) -> None:
        self.rejected += 1
        _log(f"rejected a connection: {why}")
        try:
            sock.close()
        except OSError:
            pass

    def expire(self) -> Optional[float]:
        """Drop connections whose first frame did not come in time; return
        how long until the next deadline (None: no pending connection)."""
        now = time.monotonic()
        for pending in list(self.pending):
            if pending.deadline <= now:
                self.drop(pending, f"no complete first frame within {FIRST_FRAME_TIMEOUT:.0f} s")
        if not self.pending:
            return None
        return max(0.0, min(p.deadline for p in self.pending) - now)

    def drop(self, pending: "Pending", why: str) -> None:
        self.pending.remove(pending)
        self.sel.unregister(pending.sock)
        for fd in pending.fds:
            os.close(fd)
        self.reject(pending.sock, why)

    def first_frame(self, pending: "Pending") -> None:
        """Read what a new connection sent; serve its first frame once whole."""
        try:
            if pending.sock.family == socket.AF_UNIX:
                data, fds, _, _ = socket.recv_fds(pending.sock, 1 << 16, 3)
                pending.fds.extend(fds)
            else:
                data = pending.sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError as exc:
            self.drop(pending, f"read failed: {exc}")
            return
        if not data:
            self.drop(pending, "closed before its first frame")
            return
        pending.buf += data
        if len(pending.buf) < HEADER.size:
            return
        (size,) = HEADER.unpack(pending.buf[: HEADER.size])
        if size > min(self.max_frame, MAX_FIRST_FRAME):
            self.drop(pending, f"a first frame of {size} bytes")
            return
        if len(pending.buf) < HEADER.size + size:
            return
        if len(pending.buf) > HEADER.size + size:
            self.drop(pending, "data after the first frame before its answer")
            return
        self.pending.remove(pending)
        self.sel.unregister(pending.sock)
        pending.sock.setblocking(True)
        conn = Conn(pending.sock, self.max_frame)
        fds = pending.fds
        try:
            try:
                req = loads(pending.buf[HEADER.size:])
            except ProtocolViolation as exc:
                self.reject(pending.sock, str(exc))
                return
            if not self._authentic(req):
                self.reject(pending.sock, f"wrong or missing secret from {pending.peer or 'a local peer'}")
                return
            self._accepted(conn, req, fds)
        finally:
            for fd in fds:  # the child keeps its own copies
                os.close(fd)

    def _authentic(self, req: Any) -> bool:
        if not self.secret:
            return True
        args = req.get("args") if isinstance(req, dict) else None
        given = args.get("secret") if isinstance(args, dict) else None
        return isinstance(given, str) and hmac.compare_digest(given.encode(), self.secret.encode())

    def _accepted(self, conn: "Conn", req: Any, fds: List[int]) -> None:
        rid = req.get("id") if isinstance(req, dict) else None
        method = req.get("method") if isinstance(req, dict) else None
        if not isinstance(rid, int):
            conn.close()
            return
        if method == "control":
            conn.send({"id": rid, "ok": True, "result": self.hello()})
            self.controls.append(conn)
            self.sel.register(conn.sock, selectors.EVENT_READ, conn)
        elif method == "fork":
            args = req.get("args") if isinstance(req.get("args"), dict) else {}
            owner = args.get("owner_pid")
            worker_id = str(args.get("worker_id") or f"{self.zygote_id}.{self.forked + 1}")
            owner = owner if isinstance(owner, int) else None
            output = fds if len(fds) in (2, 3) else []
            mode = args.get("mode", "fork")
            serving = serving_options(args)
            if mode == "spawn":
                self.spawn(conn, rid, worker_id, owner, output, serving)
                return
            if mode != "unchecked":
                verdict = self.checker.verdict()
                if not verdict.safe:
                    conn.send({"id": rid, "ok": False, "error": _error("exception", "ForkUnsafe", f"fork is unsafe: {verdict.detail}")})
                    conn.close()
                    return
            self.fork(conn, rid, worker_id, owner, output, serving)
        else:
            conn.send({"id": rid, "ok": False, "error": _error("bad_request", "BadRequest", "first frame must be fork or control")})
            conn.close()

    def fork(self, conn: Conn, rid: int, worker_id: str, owner: Optional[int] = None, output: List[int] = (),
             serving: Optional[Dict[str, Any]] = None) -> None:
        """Fork a worker serving conn (or hand conn to a spare); output, when
        given, is the pair of descriptors its stdout and stderr go to (pipes
        of the requester), optionally followed by a socket its liveness
        probes come on."""
        self.served += 1
        pid = self.take_spare(conn, rid, worker_id, owner, list(output), serving)
        if pid is not None:
            self.from_spares += 1
        else:
            try:
                pid = os.fork()
            except OSError as exc:
                conn.send({"id": rid, "ok": False, "error": _error("exception", "OSError", f"fork failed: {exc}{_limit_of(exc.errno)}")})
                conn.close()
                return
            if pid == 0:
                self.become_worker(conn, rid, worker_id, owner, output, serving)
        self.forked += 1
        self.last_used = time.monotonic()
        self.children[pid] = worker_id
        if self.watch_owners and owner is not None:
            self.watch_owner(owner, pid)
        conn.close()

    def spawn(self, conn: Conn, rid: int, worker_id: str, owner: Optional[int] = None, output: List[int] = (),
              serving: Optional[Dict[str, Any]] = None) -> None:
        """Start a fresh interpreter serving conn, in place of a fork: it
        imports the preload and handler modules itself and answers the
        request as a forked worker would. It is the zygote's child, watched
        and killed like one (posix_spawn: no code of this process runs in
        it, so the threads here cannot hang it)."""
        argv = [sys.executable, "-m", "pyharness_worker.zygote", "--spawned", str(rid), "--parent", str(self.pid),
                "--fd", "3", "--zygote-id", worker_id, "--max-frame", str(self.max_frame)]
        serving = serving or {}
        if serving.get("concurrency", 1) > 1:
            argv += ["--concurrency", str(serving["concurrency"])]
        if serving.get("sync_threads", 0) > 0:
            argv += ["--sync-threads", str(serving["sync_threads"])]
        if serving.get("slow_callback", DEFAULT_SLOW_CALLBACK) != DEFAULT_SLOW_CALLBACK:
            argv += ["--slow-callback", repr(serving["slow_callback"])]
        if serving.get("segments"):
            argv += ["--segments"]
        if owner is not None:
            argv += ["--owner", str(owner)]
        for name in self.preload:
            argv += ["--preload", name]
        for name in self.modules:
            argv += ["--module", name]
        env = dict(os.environ)
        env["PYHARNESS_WORKER_ID"] = worker_id
        if owner is not None:
            env["PYHARNESS_OWNER_PID"] = str(owner)  # whose it is, for leak checks, from its first instant
        env.pop(phase.ENV, None)
        # Sources first above every target descriptor, so no dup2 of the
        # child overwrites one it still needs.
        sources = [conn.sock.fileno(), *output[:2], *output[2:3]]
        targets = [3] + ([1, 2] if output else []) + ([4] if len(output) == 3 else [])
        if len(output) == 3:
            argv += ["--alive-fd", "4"]
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in sources]
        try:
            pid = os.posix_spawn(sys.executable, argv, env, setpgroup=0,
                                 file_actions=[(os.POSIX_SPAWN_DUP2, h, t) for h, t in zip(high, targets)])
        except OSError as exc:
            conn.send({"id": rid, "ok": False, "error": _error("exception", "OSError", f"spawn failed: {exc}{_limit_of(exc.errno)}")})
            conn.close()
            return
        finally:
            for fd in high:
                os.close(fd)
        self.spawned += 1
        self.forked += 1
        self.last_used = time.monotonic()
        self.children[pid] = worker_id
        if self.watch_owners and owner is not None:
            self.watch_owner(owner, pid)
        conn.close()

    def detach_child(self) -> None:
        """In a child: drop the zygote's signal handling and descriptors."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.sel.close()
        os.close(self.wake_r)
        os.close(self.wake_w)
        self.listener.close()
        for control in self.controls:
            control.close()
        for fd in [*self.owners.values(), *self.holders.values()]:
            os.close(fd)
        if self.owner_pidfd is not None:
            os.close(self.owner_pidfd)
        for pending in self.pending:
            pending.sock.close()
            for fd in pending.fds:
                os.close(fd)
        for sock in self.spares.values():
            sock.close()

    def become_worker(self, conn: Conn, rid: int, worker_id: str, owner: Optional[int], output: List[int],
                      serving: Optional[Dict[str, Any]] = None, detached: bool = False) -> None:
        """In a fresh fork (or, detached, a spare that took a request):
        become the worker serving conn."""
        code = EXIT_CHILD_FAILED
        try:
            if owner is not None:
                _set_name(f"pyh:{owner}")  # first: until then, a leak check cannot tell whose fork this is
            os.setpgid(0, 0)
            alive = output[2] if len(output) == 3 else None
            if output:
                for stream in (sys.stdout, sys.stderr):
                    stream.flush()
                os.dup2(output[0], 1)
                os.dup2(output[1], 2)
                for fd in output[:2]:
                    if fd > 2:
                        os.close(fd)
            if not detached:
                _set_pdeathsig(signal.SIGKILL)
                if os.getppid() != self.pid:
                    os._exit(EXIT_CHILD_FAILED)
                self.detach_child()
            _reseed()
            os.environ["PYHARNESS_WORKER_ID"] = worker_id
            conn.raw.close()
            if alive is not None:
                liveness.start(alive)
            code = run(conn.sock, worker_id, self.max_frame, self.modules, greet=rid, **(serving or {}))
        except BaseException:
            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            os._exit(code)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            spare = self.spares.pop(pid, None)
            if spare is not None or pid in self.killed_spares:  # a spare that ended before it served
                if spare is not None:
                    spare.close()
                self.killed_spares.discard(pid)
                continue
            self.children.pop(pid, None)
            self.owned.pop(pid, None)
            self.last_used = time.monotonic()
            self.statuses[pid] = _decode_status(status)
            for conn, rid in self.waiters.pop(pid, []):
                self.answer_wait(conn, rid, pid)

    def answer_wait(self, conn: Conn, rid: int, pid: int) -> None:
        code, sig = self.statuses.pop(pid)
        self.reply(conn, {"id": rid, "ok": True, "result": {"pid": pid, "code": code, "signal": sig}})

    def reply(self, conn: Conn, envelope: Dict[str, Any]) -> None:
        try:
            conn.send(envelope)
        except OSError as exc:
            _log(f"control reply lost: {exc}")

    # -- control -------------------------------------------------------------

    def hello(self) -> Dict[str, Any]:
        return {
            "pid": self.pid,
            "worker_id": self.zygote_id,
            "python": platform.python_version(),
            "uptime": time.monotonic() - self.started,
            "protocol": PROTOCOL_VERSION,
            "max_frame": self.max_frame,
        }

    def control(self, conn: Conn) -> bool:
        """Serve one control request; False when the zygote must stop."""
        try:
            req = conn.read()
        except (EOFError, ProtocolViolation, OSError) as exc:
            self.sel.unregister(conn.sock)
            self.controls.remove(conn)
            conn.close()
            if conn is self.owner:
                if not isinstance(exc, EOFError):
                    _log(f"owner channel broken: {exc}")
                return False
            return True
        rid = req.get("id") if isinstance(req, dict) else None
        if not isinstance(rid, int):
            _log("control request without an id")
            return True
        method = req.get("method")
        args = req.get("args") if isinstance(req.get("args"), dict) else {}
        if method == "ping":
            self.reply(conn, {"id": rid, "ok": True, "result": self.hello()})
        elif method == "info":
            info = dict(self.hello())
            info.update({
                "children": sorted(self.children),
                "forked": self.forked,
                "spawned": self.spawned,
                "preload": self.preload,
                "modules": self.modules,
                "address": self.address,
                "loaded": sorted(m for m in self.preload if m in sys.modules),
                "rejected": self.rejected,
                "idle": 0.0 if self.children else time.monotonic() - self.last_used,
                "spares": sorted(self.spares),
                "spare_target": self.spare_target,
                "spares_forked": self.spares_forked,
                "from_spares": self.from_spares,
            })
            self.reply(conn, {"id": rid, "ok": True, "result": info})
        elif method == "hold":
            pid = args.get("pid")
            if type(pid) is not int or pid <= 0:
                self.reply(conn, {"id": rid, "ok": False, "error": _error("bad_request", "BadRequest", f"hold needs a pid, got {pid!r}")})
            elif not self.hold(pid):
                self.reply(conn, {"id": rid, "ok": False, "error": _error("bad_request", "UnknownPid", f"process {pid} cannot be watched (ended?)")})
            else:
                self.reply(conn, {"id": rid, "ok": True, "result": {"held": sorted(self.holders)}})
        elif method == "fork_safety":
            verdict = self.checker.verdict().as_dict()
            verdict["thread_limit"] = os.environ.get("PYHARNESS_THREAD_LIMIT", "")  # what the zygote's starter set
            self.reply(conn, {"id": rid, "ok": True, "result": verdict})
        elif method == "imports":
            self.reply(conn, {"id": rid, "ok": True, "result": self.imports()})
        elif method == "wait":
            pid = args.get("pid")
            if pid in self.statuses:
                self.answer_wait(conn, rid, pid)
            elif pid in self.children:
                self.waiters.setdefault(pid, []).append((conn, rid))
            else:
                self.reply(conn, {"id": rid, "ok": False, "error": _error("bad_request", "UnknownPid", f"no child with pid {pid!r}")})
        elif method == "kill":
            pid = args.get("pid")
            sig = int(args.get("signal", signal.SIGKILL))
            sent = False
            if pid in self.children:
                try:
                    os.killpg(pid, sig)
                    sent = True
                except ProcessLookupError:
                    try:
                        os.kill(pid, sig)
                        sent = True
                    except ProcessLookupError:
                        pass
            self.reply(conn, {"id": rid, "ok": True, "result": {"sent": sent}})
        elif method == "shutdown":
            self.stop_spares()
            for pid in list(self.children):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for pid in list(self.children):
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
            self.reply(conn, {"id": rid, "ok": True, "result": None})
            self.stopping = True
        else:
            self.reply(conn, {"id": rid, "ok": False, "error": _error("unknown_method", "UnknownMethod", f"unknown zygote method {method!r}")})
        return not self.stopping


def _daemonize(log: Optional[str]) -> None:
    """Go on in a child in a session of its own, its output in log; the
    parent prints the child's pid and exits 0 (the zygote is ready) once
    the child leads its session: whoever reads the pid finds the host as
    a session leader at once (realpy's findHost, for a host whose record
    cannot be read)."""
    sys.stdout.flush()
    sys.stderr.flush()
    led, lead = os.pipe()
    pid = os.fork()
    if pid > 0:
        os.close(lead)
        with os.fdopen(led, "rb") as r:
            ok = r.read(1) == b"1"  # EOF: the child died before its setsid
        if not ok:
            os._exit(EXIT_CHILD_FAILED)
        os.write(1, f"{pid}\n".encode())
        os._exit(0)
    os.close(led)
    os.setsid()
    os.write(lead, b"1")
    os.close(lead)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if log else null
    os.dup2(out, 1)
    os.dup2(out, 2)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(EXIT_OK)


def serving_options(args: Dict[str, Any]) -> Dict[str, Any]:
    """How a forked (or spawned) worker serves, from the fork request's
    args (PROTOCOL.md, Concurrency): "concurrency" and "sync_threads", a
    positive integer (else 1 and 0), "slow_callback", a number of seconds, 0
    or more (else the default), and "segments": true when the Go side reads
    segmented frames (PROTOCOL.md, Segmented frames: the fork request says
    so as a readiness ping's args do)."""
    concurrency = args.get("concurrency")
    threads = args.get("sync_threads")
    slow = args.get("slow_callback")
    if type(slow) not in (int, float) or not 0 <= slow < float("inf"):
        slow = DEFAULT_SLOW_CALLBACK
    return {
        "concurrency": concurrency if type(concurrency) is int and concurrency > 0 else 1,
        "sync_threads": threads if type(threads) is int and threads > 0 else 0,
        "slow_callback": float(slow),
        "segments": args.get("segments") is True,
    }


def serve_spawned(args: argparse.Namespace) -> int:
    """A worker the zygote spawned in place of a fork (Zygote.spawn): named
    and tied to the zygote as a forked one is, then it imports the modules
    and answers the fork request (--spawned) as a forked worker would."""
    if args.owner is not None:
        _set_name(f"pyh:{args.owner}")
    _set_pdeathsig(signal.SIGKILL)
    if args.parent and os.getppid() != args.parent:
        return EXIT_CHILD_FAILED  # the zygote ended before the signal was set
    sock = socket.socket(fileno=args.fd)
    try:
        for name in args.preload:
            import_named(name, "preload module")
    except Exception as exc:
        text = startfail.describe(exc)
        _log(text)
        sock.sendall(encode_frame(dumps({"id": args.spawned, "ok": False, "error": _error("exception", "StartFailed", text)}), args.max_frame))
        return EXIT_START_FAILED
    if args.alive_fd is not None:
        liveness.start(args.alive_fd)
    return run(sock, args.zygote_id, args.max_frame, args.module, greet=args.spawned, concurrency=args.concurrency,
               sync_threads=args.sync_threads, slow_callback=args.slow_callback, segments=args.segments)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="pyharness_worker.zygote")
    parser.add_argument("--fd", type=int, default=None, help="owner's control socket; EOF there stops the zygote")
    parser.add_argument("--listen", default=None, help="Unix socket path to accept connections on")
    parser.add_argument("--listen-tcp", default=None, help="HOST:PORT to accept connections on")
    parser.add_argument("--zygote-id", default="zygote")
    parser.add_argument("--max-frame", type=max_frame_arg, default=DEFAULT_MAX_FRAME)
    parser.add_argument("--preload", action="append", default=[], help="module to import once before forking (repeatable)")
    parser.add_argument("--module", action="append", default=[], help="handler module served by forked workers (repeatable)")
    parser.add_argument("--run-id", default="", help="marker of the test run that owns this zygote (ignored)")
    parser.add_argument("--peer-uid", type=int, action="append", default=[], help="another uid allowed to connect over the Unix socket")
    parser.add_argument("--record", default="", help="a warm host's record file, removed when the host ends because every held process has")
    parser.add_argument("--idle-exit", type=float, default=0.0, help="exit after this many seconds with nobody attached (0: never)")
    parser.add_argument("--watch-owners", action="store_true", help="kill a fork when the process that asked for it ends")
    parser.add_argument("--spares", type=int, default=0, help="keep up to this many workers forked ahead of the next run's requests")
    parser.add_argument("--daemon", action="store_true", help="once listening, detach (a new session) and print the pid on stdout")
    parser.add_argument("--log", default=None, help="with --daemon, the file stdout and stderr go to")
    parser.add_argument("--spawned", type=int, default=None, metavar="RID",
                        help="serve --fd as a worker spawned in place of a fork, answering request RID first")
    parser.add_argument("--parent", type=int, default=0, help="with --spawned, the zygote: exit if it is gone")
    parser.add_argument("--concurrency", type=int, default=1, help="with --spawned, calls served at once")
    parser.add_argument("--sync-threads", type=int, default=0, help="with --spawned, threads sync handlers run in")
    parser.add_argument("--slow-callback", type=float, default=DEFAULT_SLOW_CALLBACK,
                        help="with --spawned, seconds after which a blocked event loop is reported")
    parser.add_argument("--segments", action="store_true", help="with --spawned, the Go side reads segmented frames")
    parser.add_argument("--owner", type=int, default=None, help="with --spawned, the process the worker is for")
    parser.add_argument("--alive-fd", type=int, default=None, help="with --spawned, the liveness socket")
    args = parser.parse_args(argv)
    if args.spawned is not None:
        return serve_spawned(args)
    if not args.listen and not args.listen_tcp:
        parser.error("one of --listen or --listen-tcp is required")

    signal.signal(signal.SIGTERM, _on_sigterm)
    secret = take_secret()  # before any preload or handler module runs
    checker = forksafe.Checker()  # which import started which thread
    try:
        for name in args.preload:
            phase.mark(f"preload import: {name}")
            import_named(name, "preload module")
            checker.imported(name)
        for name in args.module:
            phase.mark(f"handlers import: {name}")
            handlers_of(name, "handler module")
            checker.imported(name)
    except Exception as exc:
        _log(startfail.describe(exc))
        return EXIT_START_FAILED
    phase.mark("ready")  # what is left (listening) cannot hang
    phase.done()

    if args.listen:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.unlink(args.listen)
        except FileNotFoundError:
            pass
        listener.bind(args.listen)
        os.chmod(args.listen, 0o666)  # reachable from the host through a bind mount
        address = "unix:" + args.listen
    else:
        host, _, port = args.listen_tcp.rpartition(":")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host or "0.0.0.0", int(port)))
        address = "tcp:%s:%d" % listener.getsockname()[:2]
    # A full machine of test binaries may attach at once (every parallel
    # process of every package, each forking a pool): the kernel caps this
    # at net.core.somaxconn; the Go side retries a connect the backlog refused.
    listener.listen(max(LISTEN_BACKLOG, socket.SOMAXCONN))
    if args.daemon:
        _daemonize(args.log)
    _log(f"listening on {address}")
    owner = socket.socket(fileno=args.fd) if args.fd is not None else None
    zygote = Zygote(listener, owner, args.zygote_id, args.max_frame, args.module, args.preload, address, tuple(args.peer_uid),
                    idle_exit=args.idle_exit, watch_owners=args.watch_owners, secret=secret, checker=checker)
    zygote.record = args.record
    zygote.spare_cap = max(0, args.spares)
    try:
        return zygote.serve()
    finally:
        zygote.stop_spares()
        for pid in list(zygote.children):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        listener.close()
        if args.listen:
            try:
                os.unlink(args.listen)
            except FileNotFoundError:
                pass


if __name__ == "__main__":
    sys.exit(main())
