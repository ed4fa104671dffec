"""Whether a process can fork safely: the zygote's check before each fork.

fork(2) copies only the calling thread. A thread pool a native library
started before the fork is gone in the child, while the library still
believes it is there: libgomp (GNU OpenMP), Intel's libiomp5 and LLVM's
libomp wait forever for their team on the child's first parallel region;
CUDA and grpc break the same way. OpenBLAS registers pthread_atfork
handlers and survives. A process is safe to fork when it has no thread but
the calling one, or when every other thread belongs to a library known to
survive fork.

Each thread is told apart (Linux: /proc) by where it waits: the
instruction pointer of its blocked system call (/proc/self/task/TID/syscall)
and the return addresses on its stack, read through /proc/self/mem, mapped
to the shared libraries of /proc/self/maps. A Python thread (threading) is
not fork-safe either: the child has none of it, and whatever it held.
The Python module that loaded a library is the first extension module of
sys.modules whose ELF dynamic section needs it (DT_NEEDED).
"""

import bisect
import os
import struct
import sys
import threading
import time
from typing import Any, Dict, FrozenSet, List, Optional, Tuple

# Libraries whose threads survive fork (pthread_atfork handlers).
KNOWN_SAFE = ("libopenblas",)
# Libraries whose threads do not: what each is, for the warning.
KNOWN_UNSAFE = {
    "libgomp": "GNU OpenMP",
    "libiomp5": "Intel OpenMP",
    "libomp": "LLVM OpenMP",
    "libcuda": "CUDA driver",
    "libcudart": "CUDA runtime",
    "libgrpc": "gRPC",
    "cygrpc": "gRPC",
    "libtbb": "Intel TBB",
    "libmkl": "Intel MKL",
}
# Libraries every thread passes through: they say nothing about its owner.
_GENERIC = ("libc.so", "libc-", "libpthread", "ld-linux", "ld-musl", "libstdc++", "libgcc_s", "libm.so", "libdl", "librt",
            "libffi", "libpython", "[vdso]", "libc.musl")
# How long threads that are running (spinning before they block) get to
# settle into a system call where they can be told apart.
SETTLE_SECONDS = 2.0
_STACK_BYTES = 32 << 10


def library_name(path: str) -> str:
    """The short name of a library path: libgomp for
    /usr/lib/x86_64-linux-gnu/libgomp.so.1.0.0 or a wheel's
    libgomp-a34b3233.so.1.0.0; cygrpc for cygrpc.cpython-311-x86_64-linux-gnu.so."""
    base = os.path.basename(path)
    name = base.split(".so")[0].split(".cpython")[0]
    head, sep, tail = name.rpartition("-")
    if sep and head and all(c in "0123456789abcdef" for c in tail) and len(tail) >= 8:
        name = head  # a wheel's vendored copy: libgomp-a34b3233
    return name


def classify(path: str) -> str:
    """"safe", "unsafe" or "unknown" for the threads of the library at path."""
    name = library_name(path)
    if any(name.startswith(s) for s in KNOWN_SAFE):
        return "safe"
    if any(name.startswith(u) for u in KNOWN_UNSAFE):
        return "unsafe"
    return "unknown"


def _generic(path: str) -> bool:
    base = os.path.basename(path)
    return path in ("", sys.executable) or any(base.startswith(g) or g in base for g in _GENERIC) or base.startswith("python")


class Maps:
    """The executable file mappings of this process, to find which library
    an address belongs to."""

    def __init__(self, text: Optional[str] = None) -> None:
        if text is None:
            with open("/proc/self/maps") as f:
                text = f.read()
        spans: List[Tuple[int, int, str]] = []
        self.stacks: List[Tuple[int, int]] = []
        for line in text.splitlines():
            parts = line.split(None, 5)
            if len(parts) < 5:
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            path = parts[5].strip() if len(parts) > 5 else ""
            if "x" in parts[1] and path:
                spans.append((lo, hi, path))
            elif "w" in parts[1]:
                self.stacks.append((lo, hi))
        spans.sort()
        self.spans = spans
        self.starts = [s[0] for s in spans]
        self.stacks.sort()
        self.paths = sorted({s[2] for s in spans})

    def at(self, addr: int) -> Optional[str]:
        i = bisect.bisect_right(self.starts, addr) - 1
        if i >= 0 and self.spans[i][0] <= addr < self.spans[i][1]:
            return self.spans[i][2]
        return None

    def writable_end(self, addr: int) -> int:
        """Where the writable mapping holding addr ends (0: none)."""
        i = bisect.bisect_right([s[0] for s in self.stacks], addr) - 1
        if i >= 0 and self.stacks[i][0] <= addr < self.stacks[i][1]:
            return self.stacks[i][1]
        return 0


def owner_of(words: List[int], maps: Maps) -> Optional[str]:
    """The first library among the addresses (the thread's instruction
    pointer, then its stack) that is not one every thread passes through."""
    for w in words:
        path = maps.at(w)
        if path is not None and not _generic(path):
            return path
    return None


def _thread_words(tid: int, maps: Maps, mem: Optional[int]) -> Optional[List[int]]:
    """The instruction pointer and stack words of a blocked thread; None
    while it runs (its registers are not shown then)."""
    try:
        with open(f"/proc/self/task/{tid}/syscall") as f:
            fields = f.read().split()
    except OSError:
        return []  # gone
    if not fields or fields[0] == "running" or len(fields) < 3:
        return None
    sp, pc = int(fields[-2], 16), int(fields[-1], 16)
    words = [pc]
    if mem is not None and sp:
        end = maps.writable_end(sp)
        size = min(_STACK_BYTES, end - sp) if end else 4096
        try:
            data = os.pread(mem, max(size, 0), sp)
        except OSError:
            data = b""
        words.extend(w for (w,) in struct.iter_unpack("<Q", data[: len(data) // 8 * 8]))
    return words


def needed(path: str) -> Tuple[str, List[str]]:
    """(DT_SONAME, DT_NEEDED entries) of an ELF64 little-endian shared object."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
                return "", []
            phoff, = struct.unpack_from("<Q", head, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
            f.seek(phoff)
            phdrs = f.read(phentsize * phnum)
            loads: List[Tuple[int, int, int]] = []
            dynamic: Optional[Tuple[int, int]] = None
            for i in range(phnum):
                p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", phdrs, i * phentsize)
                if p_type == 1:
                    loads.append((p_vaddr, p_offset, p_filesz))
                elif p_type == 2:
                    dynamic = (p_offset, p_filesz)
            if dynamic is None:
                return "", []
            f.seek(dynamic[0])
            dyn = f.read(dynamic[1])
            strtab, strsz, soname, names = 0, 0, -1, []
            for i in range(len(dyn) // 16):
                tag, val = struct.unpack_from("<qQ", dyn, i * 16)
                if tag == 0:
                    break
                if tag == 1:
                    names.append(val)
                elif tag == 5:
                    strtab = val
                elif tag == 10:
                    strsz = val
                elif tag == 14:
                    soname = val
            off = next((o + strtab - v for v, o, n in loads if v <= strtab < v + n), None)
            if off is None:
                return "", []
            f.seek(off)
            table = f.read(strsz)
    except (OSError, struct.error):
        return "", []

    def text(at: int) -> str:
        return table[at: table.index(b"\0", at)].decode("utf-8", "replace") if 0 <= at < len(table) else ""

    return text(soname), [text(n) for n in names]


def module_loading(path: str) -> str:
    """The first Python module (in import order) whose extension file is the
    library at path or needs it; "" when none does (ctypes, another library)."""
    soname = needed(path)[0] or os.path.basename(path)
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or not (file.endswith(".so") or ".so." in file):
            continue
        try:
            if os.path.samefile(file, path):
                return name
        except OSError:
            continue
        if soname in needed(file)[1]:
            return name
    return ""


class Verdict:
    """Whether forking is safe now, and if not, why."""

    def __init__(self, safe: bool, threads: int = 0, library: str = "", path: str = "", module: str = "",
                 started_by: str = "", kind: str = "", detail: str = "") -> None:
        self.safe = safe
        self.threads = threads  # threads besides the calling one
        self.library = library  # the short name of the library, "threading" for a Python thread
        self.path = path
        self.module = module  # the Python module that loaded it (or started the Python thread)
        self.started_by = started_by  # the import during which the thread appeared
        self.kind = kind  # what the library is (GNU OpenMP, ...)
        self.detail = detail

    def as_dict(self) -> Dict[str, Any]:
        return dict(vars(self))


def _python_threads() -> Dict[int, threading.Thread]:
    me = threading.get_ident()
    out = {}
    for t in threading.enumerate():
        nid = getattr(t, "native_id", None)
        if t.ident != me and isinstance(nid, int):
            out[nid] = t
    return out


def _thread_module(t: threading.Thread) -> str:
    target = getattr(t, "_target", None)
    module = getattr(target, "__module__", None) if target is not None else None
    return module or type(t).__module__


def tids() -> FrozenSet[int]:
    try:
        return frozenset(int(t) for t in os.listdir("/proc/self/task"))
    except OSError:
        return frozenset()


class Checker:
    """The zygote's check: recomputed only when the set of threads changes."""

    def __init__(self) -> None:
        self.seen = tids()
        self.started_by: Dict[int, str] = {}
        self.last: Optional[Verdict] = None
        self.checked: FrozenSet[int] = frozenset()

    def imported(self, name: str) -> None:
        """Note the threads that appeared while importing name."""
        now = tids()
        for tid in now - self.seen:
            self.started_by[tid] = name
        self.seen = now

    def verdict(self) -> Verdict:
        now = tids()
        if self.last is None or now != self.checked:
            self.last = check(now, self.started_by)
            self.checked = now
        return self.last


def check(threads: Optional[FrozenSet[int]] = None, started_by: Optional[Dict[int, str]] = None) -> Verdict:
    """The verdict for this process now."""
    if not os.path.isdir("/proc/self/task"):
        return Verdict(True, detail="not checked: no /proc here")
    threads = tids() if threads is None else threads
    started_by = started_by or {}
    me = threading.get_native_id()
    others = sorted(t for t in threads if t != me)
    if not others:
        return Verdict(True)
    pythons = _python_threads()
    maps = Maps()
    try:
        mem: Optional[int] = os.open("/proc/self/mem", os.O_RDONLY)
    except OSError:
        mem = None
    owners: Dict[int, Optional[str]] = {}
    try:
        pending = [t for t in others if t not in pythons]
        deadline = time.monotonic() + SETTLE_SECONDS
        while pending:
            still = []
            for tid in pending:
                words = _thread_words(tid, maps, mem)
                if words is None:
                    still.append(tid)
                else:
                    owners[tid] = (owner_of(words, maps) or "") if words else "gone"
            pending = still
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.002)
        for tid in pending:
            owners[tid] = None  # running all along
    finally:
        if mem is not None:
            os.close(mem)
    unsafe: List[Verdict] = []
    for tid in others:
        by = started_by.get(tid, "")
        if tid in pythons:
            t = pythons[tid]
            module = _thread_module(t)
            unsafe.append(Verdict(False, library="threading", module=module, started_by=by, kind="a Python thread",
                                  detail=f"Python thread {t.name!r} (started by {module}) does not exist in a forked child"))
            continue
        path = owners.get(tid)
        if path == "gone":
            continue
        if path is None:
            unsafe.append(Verdict(False, library="unknown", started_by=by, kind="a native thread",
                                  detail=f"native thread {tid} kept running, so its library could not be told"))
            continue
        if path == "":
            unsafe.append(Verdict(False, library="unknown", started_by=by, kind="a native thread",
                                  detail=f"native thread {tid} waits where no library but the C library shows, so its library could not be told"))
            continue
        verdict = classify(path)
        if verdict == "safe":
            continue
        name = library_name(path)
        kind = next((v for k, v in KNOWN_UNSAFE.items() if name.startswith(k)), "a library not known to survive fork")
        unsafe.append(Verdict(False, library=name, path=path, started_by=by, kind=kind))
    if not unsafe:
        return Verdict(True, threads=len(others), detail=f"{len(others)} thread(s) of libraries that survive fork")
    first = next((v for v in unsafe if v.library in KNOWN_UNSAFE), unsafe[0])
    count = sum(1 for v in unsafe if v.library == first.library)
    if first.path and not first.module:
        first.module = module_loading(first.path)
    if not first.detail:
        loaded = f", loaded by {first.module}" if first.module else ""
        first.detail = f"{count} thread(s) of {first.library} ({first.kind}: {first.path}{loaded})"
    if first.started_by:
        first.detail += f", started while importing {first.started_by}"
    first.threads = len(others)
    return first
