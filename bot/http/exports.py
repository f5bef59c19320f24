"""``GET /exports/{token}``: a customer's copy, through the single-use link sent in their
chat (WhatsApp takes no ZIP). The copy is built from the database as it is opened, in
the call's one transaction that also uses the link up; a link unknown, used or
expired answers 410 with a short page in the three languages. Nothing is cached
(``Cache-Control: no-store``) and the page leaks no referrer.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.http.metrics import Metrics
from bot.render.export import build_export
from bot.render.links import EXPORT_PATH
from core.app import PrivacyCore
from core.errors import NotFound
from core.services.rights.links import open_export_link, use_export_link

__all__ = ["ExportLinks"]

log = logging.getLogger("bot.http.exports")

_GONE = (
    "This link no longer works: it opens once, for 12 hours. Ask for a new copy with /export.\n"
    "此链接已失效：它只能在 12 小时内打开一次。请用 /export 重新申请副本。\n"
    "此連結已失效：它只能在 12 小時內開啟一次。請用 /export 重新索取副本。\n"
)
_PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class ExportLinks:
    def __init__(self, core: PrivacyCore, metrics: Metrics) -> None:
        self.core, self.metrics = core, metrics

    def register(self, app: web.Application) -> None:
        app.router.add_get(EXPORT_PATH, self.open)

    async def open(self, request: web.Request) -> web.Response:
        try:
            token = request.match_info["token"]
            async with self.core.uow() as uow:
                opened = await open_export_link(token, uow)
                built = await build_export(self.core, opened.customer_ref, uow)  # reads only
                await use_export_link(token, opened, uow)
                await uow.commit()
        except NotFound:
            self._count("refused")
            return web.Response(status=410, text=_GONE, headers=_PRIVATE)
        self._count("opened")
        headers = {**_PRIVATE, "Content-Disposition": f'attachment; filename="{built.name}"'}
        return web.Response(body=built.content, content_type="application/zip", headers=headers)

    def _count(self, outcome: str) -> None:
        self.metrics.inc(
            "privacy_export_links_total", "Export links opened or refused", outcome=outcome
        )
