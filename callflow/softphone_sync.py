"""Softphone accounts into Asterisk: the app pushes them over ARI (push configuration).

The portal writes `softphone_accounts` (store/softphones.py) and never talks to Asterisk;
this job follows the table's change sequence and creates or removes the PJSIP auth, aor
and endpoint of each changed account (`PUT`/`DELETE /asterisk/config/dynamic/res_pjsip/…`).
Asterisk keeps them in sorcery's memory wizard (asterisk-conf/sorcery.conf), so they are
gone after an Asterisk restart: the job notices a new Asterisk start time and pushes every
account again; the database stays the one source of truth. Every app instance runs the job;
the pushes are idempotent.

Revoking removes the endpoint, so the phone can neither register nor be rung; a contact it
registered before lasts at most until its registration expires (≤ 5 min) but no endpoint
dials it.
"""

from __future__ import annotations

import logging

from callflow.ari import AriClient
from callflow.periodic import repeat
from callflow.services import Services
from callflow.softphone import SoftphoneAccount, ring_variable, sorcery_objects
from callflow.store import softphones

log = logging.getLogger("callflow.softphone")

CONFIG_CLASS = "res_pjsip"


class SoftphoneSync:
    """What has been pushed to which Asterisk start (the state of one job)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.asterisk_started = ""
        self.pushed_seq = 0

    async def step(self) -> int:
        """Push what changed since the last step; the number of accounts pushed."""
        ari = self.services.ari
        started = (await ari.get_info()).startup_time
        if started != self.asterisk_started:
            self.asterisk_started, self.pushed_seq = started, 0  # a new Asterisk: all again
        changed = await softphones.changed_since(self.services.db, self.pushed_seq)
        for account in changed:
            await push(ari, account, allow_udp=self.services.settings.softphone_allow_udp)
            self.pushed_seq = account.change_seq
        if changed:
            log.info("softphone accounts pushed to Asterisk: %d", len(changed))
        return len(changed)


async def push(ari: AriClient, account: SoftphoneAccount, *, allow_udp: bool) -> None:
    objects = sorcery_objects(account, allow_udp=allow_udp)
    ring = ring_variable(account.number)
    if account.revoked:
        await ari.set_global_var(ring, "0")
        for object_type, _ in reversed(objects):  # the endpoint first
            await ari.delete_config_object(CONFIG_CLASS, object_type, account.username)
        return
    for object_type, fields in objects:
        await ari.put_config_object(CONFIG_CLASS, object_type, account.username, fields)
    await ari.set_global_var(ring, "1" if account.rings else "0")


async def softphone_sync_job(services: Services) -> None:
    sync = SoftphoneSync(services)
    await repeat("softphone sync", sync.step, services.settings.softphone_sync_interval, log)
