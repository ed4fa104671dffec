"""A stream, an async handler and a plain call that wait, for requests pipelined behind them."""

import threading
from typing import Any, Iterator

# Set by the test once it has sent the probe: the stream then goes on.
go_on = threading.Event()


def paced_items(args: Any) -> Iterator[int]:
    """Yield args items; before the second, wait for go_on."""
    for i in range(int(args)):
        if i == 1:
            go_on.wait(10)
        yield i


async def paced_wait(args: Any) -> str:
    """Await go_on (set from the test's thread), polling the event loop."""
    import asyncio

    while not go_on.is_set():
        await asyncio.sleep(0.01)
    return "done"


# Calls of counted, for the specs of requests pipelined behind a call.
runs: list = []


def gate(args: Any) -> str:
    """A plain call that waits for go_on: requests pipelined behind it wait."""
    go_on.wait(10)
    return "opened"


def counted(args: Any) -> Any:
    """Echo args, noting that it ran."""
    runs.append(args)
    return args
