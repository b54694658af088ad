"""`python -m portal`: serve the portal with uvicorn on ANSHIN_PORTAL_HOST:ANSHIN_PORTAL_PORT."""

from __future__ import annotations

import os

import uvicorn
from pydantic import ValidationError

from callflow.deployment import (
    invalid_settings,
    refuse_to_start,
    refuse_unless_schema_current,
)
from callflow.logs import configure as configure_logs
from portal.app import create_app
from portal.config import PortalSettings
from portal.deployment import portal_problems


def main() -> None:
    try:
        settings = PortalSettings()
    except ValidationError as exc:
        invalid_settings("portal", exc)
    refuse_to_start("portal", portal_problems(settings, os.environ))
    refuse_unless_schema_current("portal", settings.database_url)
    configure_logs(settings.log_level, settings.log_format, "portal")
    # access_log off: URLs are harmless, but keep logs free of anything a user typed.
    # log_config None: uvicorn's own lines go through the same (text or JSON) handler.
    uvicorn.run(create_app(settings), host=settings.portal_host, port=settings.portal_port,
                proxy_headers=False, access_log=False, log_config=None)


if __name__ == "__main__":
    main()
