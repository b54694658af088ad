"""`python -m portal`: serve the portal with uvicorn on ANSHIN_PORTAL_HOST:ANSHIN_PORTAL_PORT."""

from __future__ import annotations

import logging

import uvicorn

from portal.app import create_app
from portal.config import PortalSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = PortalSettings()
    # access_log off: URLs are harmless, but keep logs free of anything a user typed.
    uvicorn.run(create_app(settings), host=settings.portal_host, port=settings.portal_port,
                proxy_headers=False, access_log=False)


if __name__ == "__main__":
    main()
