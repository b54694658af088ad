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
import os
import time
from pathlib import Path

from callflow.ari import AriClient, AriServerError
from callflow.periodic import repeat
from callflow.register_guard import (
    AccountBlock,
    Guard,
    parse,
    parse_source_failure,
    source_bans_config,
)
from callflow.services import Services
from callflow.softphone import SoftphoneAccount, ring_variable, sorcery_objects
from callflow.store import softphones

log = logging.getLogger("callflow.softphone")

CONFIG_CLASS = "res_pjsip"
SECURITY_LOG = "security.log"  # asterisk-conf/logger.conf writes it into the media dir
# one per app instance of the node (each counts the same log; one instance's restart must
# not lift the other's bans): asterisk-conf/pjsip.conf #tryincludes them all from there
SOURCE_BANS = "pjsip-source-bans-{instance}.conf"
# Reloading res_pjsip re-reads pjsip.conf (and the bans file it includes) when one of them
# changed; res_pjsip_acl itself has no reload (Asterisk answers 409). Pushed accounts live
# in the memory wizard, which a reload leaves alone.
PJSIP_MODULE = "res_pjsip.so"


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


async def push(ari: AriClient, account: SoftphoneAccount, *, allow_udp: bool,
               block: AccountBlock | None = None) -> None:
    objects = sorcery_objects(account, allow_udp=allow_udp,
                              denied_sources=block.denied_sources if block else (),
                              locked=block.locked if block else False)
    ring = ring_variable(account.number)
    if account.revoked:
        await ari.set_global_var(ring, "0")
        for object_type, _ in reversed(objects):  # the endpoint first
            await ari.delete_config_object(CONFIG_CLASS, object_type, account.username)
        return
    for object_type, fields in objects:
        try:
            await ari.put_config_object(CONFIG_CLASS, object_type, account.username, fields)
        except AriServerError:
            # Asterisk updates a pushed object by copying it first, and an endpoint's copy
            # fails ("Allocation failed", HTTP 500): replace it instead
            await ari.delete_config_object(CONFIG_CLASS, object_type, account.username)
            await ari.put_config_object(CONFIG_CLASS, object_type, account.username, fields)
    await ari.set_global_var(ring, "1" if account.rings else "0")


class RegisterGuardJob:
    """Follows Asterisk's security log (asterisk-conf/logger.conf, in the shared media
    directory) and pushes the guard's blocks (callflow/register_guard.py): per account as
    pushed endpoint changes, sources banned for spraying as the ACL file pjsip.conf
    includes (then a res_pjsip reload). Bans live in this job's memory: an app restart
    lifts them (the file is rewritten empty)."""

    MAX_LOG_BYTES = 4 * 1024 * 1024  # then the app empties the file (Asterisk appends)

    def __init__(self, services: Services) -> None:
        self.services = services
        self.path = Path(services.settings.media_dir) / SECURITY_LOG
        self.guard = Guard(never_ban=services.settings.never_banned_networks)
        self.offset = self.path.stat().st_size if self.path.exists() else 0
        self.instance = services.settings.ari_app_instance
        self.bans_path = (Path(services.settings.media_dir)
                          / SOURCE_BANS.format(instance=self.instance))
        # the bans Asterisk has now: what the file held when we started (Asterisk read it);
        # no file is no ban, so a first start writes nothing until the first ban
        self.applied_bans = (_read(self.bans_path)
                             or source_bans_config((), self.instance))

    async def step(self) -> None:
        now = time.monotonic()
        blocks = {b.account: b for b in self.guard.expire(now)}
        for source in self.guard.expire_bans(now):
            log.warning("REGISTER guard: ban of %s ended", source)
        for line in self._new_lines():
            source_failure = parse_source_failure(line)
            if source_failure is not None and self.guard.source_failed(source_failure, now):
                log.warning("REGISTER guard: %s banned from every account (spraying)",
                            source_failure.source)
            failure = parse(line)
            if failure is not None:
                block = self.guard.failed(failure, now)
                if block is not None:
                    log.warning("REGISTER guard: %s denied %s, locked %s", block.account,
                                ",".join(block.denied_sources) or "-", block.locked)
                    blocks[block.account] = block
        for block in blocks.values():
            account = await softphones.active_account(self.services.db, block.account)
            if account is not None:
                await push(self.services.ari, account,
                           allow_udp=self.services.settings.softphone_allow_udp, block=block)
        await self._apply_bans()

    async def _apply_bans(self) -> None:
        bans = source_bans_config(self.guard.banned_sources(), self.instance)
        if bans == self.applied_bans:
            return
        if _read(self.bans_path) != bans:
            temporary = self.bans_path.with_name(self.bans_path.name + ".tmp")
            temporary.write_text(bans, encoding="utf-8")
            os.replace(temporary, self.bans_path)  # Asterisk never reads half a file
        await self.services.ari.reload_module(PJSIP_MODULE)
        self.applied_bans = bans
        log.info("REGISTER guard: sources banned now: %s",
                 ",".join(self.guard.banned_sources()) or "none")

    def _new_lines(self) -> list[str]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size < self.offset:
            self.offset = 0  # emptied
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # whole lines only
        self.offset += end
        if self.offset > self.MAX_LOG_BYTES:
            try:
                os.truncate(self.path, 0)
                self.offset = 0
            except OSError as exc:  # not ours to empty: the operator rotates it
                log.debug("cannot empty %s: %s", self.path, exc)
        return data[:end].decode(errors="replace").splitlines()


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None


async def register_guard_job(services: Services) -> None:
    job = RegisterGuardJob(services)
    await repeat("register guard", job.step, 1.0, log)


async def softphone_sync_job(services: Services) -> None:
    sync = SoftphoneSync(services)
    await repeat("softphone sync", sync.step, services.settings.softphone_sync_interval, log)
