"""Failures shared by the event path and the alert outbox."""


class RetryableFailure(Exception):
    """Some work could not be finished now; delivering the event(s) again will finish it."""
