"""The handlers of the concurrency rows: an async handler that waits, as an LLM or HTTP client does."""

import asyncio


async def nap(seconds: float) -> float:
    """Wait seconds without holding the event loop."""
    await asyncio.sleep(seconds)
    return seconds
