"""A handler that is not a coroutine function but returns a coroutine (test_mux_limits.py)."""

import asyncio
from typing import Any, Coroutine


class _Later:
    """A callable object: inspect cannot tell it is async."""

    def __call__(self, args: Any) -> Coroutine[Any, Any, Any]:
        return self._run(args)

    async def _run(self, args: Any) -> Any:
        await asyncio.sleep(0)
        return {"later": args}


PYHARNESS_METHODS = {"later": _Later()}
