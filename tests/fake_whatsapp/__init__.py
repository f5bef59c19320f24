"""A fake WhatsApp Cloud API (Graph API) server for the tests."""

from __future__ import annotations

from tests.fake_whatsapp.server import APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN, FakeWhatsApp

__all__ = ["APP_SECRET", "PHONE_NUMBER_ID", "VERIFY_TOKEN", "FakeWhatsApp"]
