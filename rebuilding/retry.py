"""Back-off between attempts at something that failed: one policy for relays, followers and subscribers."""

import random


class Backoff:
    """Capped exponential delays with jitter: 0.1 s, 0.2 s, 0.4 s … up to ``cap``."""

    def __init__(self, first: float = 0.1, cap: float = 5.0):
        self.first, self.cap = first, cap
        self.attempts = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.first * 2 ** self.attempts)
        self.attempts += 1
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempts = 0
