"""Synthetic department deliveries for a Dezhou-like city (`lipmon generate`).

`generate_landing(out_dir, households, seed=..., as_of=...)` writes a landing folder of
every source's deliveries in the formats of interfaces.md (the core three, the second
wave's departments, and civil affairs' roll, relapse register and visit outcomes), with a
small share of deliberately bad rows, and returns a summary.
"""

from .deliveries import generate_landing

__all__ = ["generate_landing"]
