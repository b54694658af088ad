"""Background jobs the app runs beside the calls (each a coroutine that loops until cancelled).

Add a feature's job here; `App.run` starts them all in its task group and cancels them on
shutdown. A job must survive its own errors (log and retry), never end by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from callflow.features.callback.worker import call_request_worker
from callflow.features.ivr.jobs import voicemail_expiry_job
from callflow.features.voicemail.recovery import recording_recovery_job
from callflow.mail.sender import mail_sender_job
from callflow.services import Services

Job = Callable[[Services], Coroutine[Any, Any, None]]


def all_jobs() -> list[tuple[str, Job]]:
    return [
        ("voicemail-expiry", voicemail_expiry_job),
        ("mail-sender", mail_sender_job),
        ("recording-recovery", recording_recovery_job),
        ("call-requests", call_request_worker),
    ]
