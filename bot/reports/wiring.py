"""The report feature, put together: `report` on the desk, its Download button, and the file
consent answers that button leads to."""

from __future__ import annotations

import aiohttp

from bot.core.shared import Shared
from bot.reports.figures import Labels
from bot.reports.handler import ReportHandler
from bot.teams.admins import AdminCheck
from bot.teams.files import Uploader
from bot.teams.routes import Feature
from bot.triage.store import TriageStore
from cards.verbs import ReportVerb, Verb


def wiring(
    shared: Shared, *, admins: AdminCheck, triage: TriageStore, http: aiohttp.ClientSession
) -> Feature:
    handler = ReportHandler(
        sessions=shared.database,
        admins=admins,
        triage=triage,
        calendar=shared.calendar,
        clock=shared.clock,
        labels=Labels.of(shared.protocols, shared.models),
        writer=shared.writer,
        wake=shared.wake,
        uploader=Uploader(http, tuple(shared.settings.file_upload_hosts)),
    )
    return Feature(
        commands={Verb.REPORT: handler.show},
        argument_commands={Verb.REPORT: handler.show_for},
        card_actions={ReportVerb.DOWNLOAD: handler.on_download},
        file_consent=handler,
    )
