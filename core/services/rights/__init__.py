"""The customer's data rights, one module per right or step.

``requests`` opens and closes a right's request; ``processing`` sets restriction,
objection and opt-out flags and the jurisdiction; ``export`` answers access and
portability; ``erasure`` forgets a customer; ``rectification`` corrects a field;
``verification`` proves a phone number and merges a phone-only customer;
``downstream`` tells the shop's other systems.
"""

from __future__ import annotations

__all__: list[str] = []
