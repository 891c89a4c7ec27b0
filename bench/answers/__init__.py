"""Whole answers: quality on question sets, follow-ups, the reader, and answer latency."""
