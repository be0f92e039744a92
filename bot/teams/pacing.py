"""Keeps each conversation inside Teams' documented per-conversation rate limits.

Teams allows a bot, per conversation, 7 requests a second, 8 in 2 s, 60 in 30 s and 1,800 an
hour (learn.microsoft.com/microsoftteams/platform/bots/how-to/rate-limit). A live stage card
and timed prompts can burst past that; waiting here for a free slot is shorter and quieter
than being told 429 and waiting out Retry-After. The counts are per instance only: with
several instances each paces its own sends, and 429 with Retry-After stays the backstop.
"""

from __future__ import annotations

import asyncio
from collections import deque

from bot.core.clock import Clock, SystemClock

Windows = tuple[tuple[float, int], ...]  # (seconds, most requests allowed in any such span)

TEAMS_WINDOWS: Windows = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
_PRUNE_MIN = 64  # the fewest acquires between two sweeps for idle conversations


class _Conversation:
    __slots__ = ("lock", "sends", "users")

    def __init__(self, keep: int) -> None:
        self.lock = asyncio.Lock()  # FIFO: callers are served in the order they came
        self.sends: deque[float] = deque(maxlen=keep)  # oldest first; only what a window needs
        self.users = 0  # callers inside acquire(); a conversation in use is never forgotten


class ConversationPacer:
    """Waits, per conversation, until one more request breaks none of the windows.

    A window (seconds, limit) means: no span of `seconds` holds more than `limit` requests.
    `margin` is added to every window because Teams counts arrivals and we count departures:
    the network's jitter must not turn a request sent just in time into one that is early.
    `clock` gives the seconds and the sleeping (a test clock moves on instead of waiting).
    """

    def __init__(
        self,
        windows: Windows = TEAMS_WINDOWS,
        *,
        margin: float = 0.05,
        clock: Clock | None = None,
    ) -> None:
        if not windows or any(seconds <= 0 or limit < 1 for seconds, limit in windows):
            raise ValueError(f"windows must be (seconds > 0, limit >= 1) pairs: {windows!r}")
        self._windows = tuple((seconds + margin, limit) for seconds, limit in windows)
        self._horizon = max(seconds for seconds, _ in self._windows)
        self._keep = max(limit for _, limit in self._windows)
        self._clock = clock or SystemClock()
        self._conversations: dict[str, _Conversation] = {}
        self._until_prune = _PRUNE_MIN

    def tracked(self) -> int:
        """How many conversations are held in memory (idle ones are forgotten lazily)."""
        return len(self._conversations)

    async def acquire(self, conversation_id: str) -> float:
        """Waits for the conversation's next free slot and takes it; returns the seconds waited."""
        started = self._clock.monotonic()
        self._maybe_prune(started)
        state = self._conversations.get(conversation_id)
        if state is None:
            state = self._conversations[conversation_id] = _Conversation(self._keep)
        state.users += 1
        try:
            async with state.lock:
                while True:
                    now = self._clock.monotonic()
                    delay = self._delay(state.sends, now)
                    if delay <= 0:
                        break
                    # Loop rather than trust one sleep: asyncio may wake us a little early.
                    await self._clock.sleep(delay)
                sends = state.sends
                while sends and now - sends[0] >= self._horizon:
                    sends.popleft()
                sends.append(now)
        finally:
            state.users -= 1
        return now - started

    def _delay(self, sends: deque[float], now: float) -> float:
        delay = 0.0
        count = len(sends)
        for seconds, limit in self._windows:
            # Full when the limit-th latest send is still inside this window.
            if count >= limit:
                delay = max(delay, sends[-limit] + seconds - now)
        return delay

    def _maybe_prune(self, now: float) -> None:
        # The next sweep comes after as many acquires as conversations are left after this
        # one, so a sweep costs O(1) per acquire however many conversations there are, and
        # a stream of new conversations cannot put it off for ever.
        self._until_prune -= 1
        if self._until_prune > 0:
            return
        idle = [
            key
            for key, state in self._conversations.items()
            if not state.users and (not state.sends or now - state.sends[-1] >= self._horizon)
        ]
        for key in idle:
            del self._conversations[key]
        self._until_prune = max(_PRUNE_MIN, len(self._conversations))
