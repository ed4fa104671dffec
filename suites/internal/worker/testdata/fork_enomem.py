"""Preloaded into a zygote: its fork(2) fails with ENOMEM, as it does when
the machine cannot commit the child's memory (vm.overcommit_memory=2, a
cgroup's memory.max). RLIMIT_AS does not limit fork, and a real shortage
cannot be made on a shared machine, so the errno is injected here: what is
tested is everything after it (the zygote's answer, the Go error)."""

import errno
import os


def _fork():
    raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM))


os.fork = _fork
