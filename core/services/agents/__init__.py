"""Use cases of authorized agents (Data Rights Protocol 1.0), one module each:

- ``envelope``: the signed envelope, checked in the protocol's order
- ``pairing``: pair-wise key set-up and the token check
- ``exercise``: a request received, matched to a customer through the blind indexes
- ``confirmation``: the customer asked in their own chat whether it was them
- ``status``: the status an agent reads, and revoking
- ``following``: the agent's status follows the data request; each change is posted
  to the agent's ``status_callback``

Import from the modules: ``core.services.requests`` uses ``following``, which must not
pull in the rest (they use the request services themselves).
"""

from __future__ import annotations

__all__: list[str] = []
