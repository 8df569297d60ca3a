"""Hot-word phrases: what a tenant or a dialog state asks the decoder to favour.

A phrase carries its own boost in `BOOST_MIN..BOOST_MAX` (like the big cloud recognizers'
0-20), so two phrases with different boosts weigh differently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

BOOST_MIN = 0.0
BOOST_MAX = 20.0


@dataclass(frozen=True)
class Hotword:
    """One phrase (lowercase words the model can spell) and its boost."""

    phrase: str
    boost: float


def merge_hotwords(tenant: Iterable[Hotword], state: Iterable[Hotword]) -> tuple[Hotword, ...]:
    """Tenant hot words plus the dialog state's hints; the state's boost wins on conflict."""
    merged = {h.phrase: h for h in tenant}
    merged.update({h.phrase: h for h in state})
    return tuple(sorted(merged.values(), key=lambda h: h.phrase))
