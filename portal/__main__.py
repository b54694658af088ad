"""`python -m portal`: serve the portal with uvicorn on ANSHIN_PORTAL_HOST:ANSHIN_PORTAL_PORT."""

from __future__ import annotations

import logging
import os

import uvicorn
from pydantic import ValidationError

from callflow.deployment import invalid_settings, refuse_to_start
from portal.app import create_app
from portal.config import PortalSettings
from portal.deployment import portal_problems


def main() -> None:
    try:
        settings = PortalSettings()
    except ValidationError as exc:
        invalid_settings("portal", exc)
    refuse_to_start("portal", portal_problems(settings, os.environ))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # access_log off: URLs are harmless, but keep logs free of anything a user typed.
    uvicorn.run(create_app(settings), host=settings.portal_host, port=settings.portal_port,
                proxy_headers=False, access_log=False)


if __name__ == "__main__":
    main()
