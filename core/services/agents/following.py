"""An agent's request follows the data request it became; every change is posted.

Each change of what the agent sees is one ``agent_status`` job (key: the request and
its change number), enqueued in the transaction of the change: the status callback
is retried with backoff until the agent answers 2xx, and it posts the status as it
is when sent, so a late retry never tells an older state.
"""

from __future__ import annotations

from core.domain.agent_request import AgentRequest
from core.domain.requests import DataRequest
from core.services.jobs import EnqueueJob, enqueue_job
from core.storage import UnitOfWork

__all__ = ["AGENT_STATUS", "CALLBACK_ATTEMPTS", "changed", "follow_data_request"]

AGENT_STATUS = "agent_status"
# About two days at the capped backoff (an hour): an agent down for hours still hears.
CALLBACK_ATTEMPTS = 60


async def changed(request: AgentRequest, uow: UnitOfWork) -> None:
    """Save the request and owe its agent a status callback."""
    await uow.agents.save(request)
    if request.status_callback:
        key = f"{AGENT_STATUS}:{request.request_id}:{request.changes}"
        payload = {"request": request.request_id}
        await enqueue_job(
            EnqueueJob(AGENT_STATUS, key, payload, max_attempts=CALLBACK_ATTEMPTS), uow
        )


async def follow_data_request(request: DataRequest, uow: UnitOfWork) -> None:
    """Called on every move of a data request: the agents' requests that follow it
    take its state, in the same transaction."""
    for found in await uow.agents.of_data_request(request.ref):
        if found.follow(request, uow.now()):
            await changed(found, uow)
