"""Subject requests: everything the bot stores about one person, exported or erased.

    python -m bot.privacy.subjects export [--person ID] [--email ADDRESS] [--out FILE]
    python -m bot.privacy.subjects erase [--person ID] [--email ADDRESS] [--dry-run]

(one of --person and --email at least; both where known, since referrals name managers and
invitees by email only).

A person is named by their Entra object id (referrals, sessions, the audit log, ...), by email
(a referral's manager and invitees, messages to invitees) and by name beside either. An email
also finds their id through the `people` table (by its keyed hash), where the bot has met them.
`SEARCHED` says, for every personal or pseudonymous column of the data map, how it is searched
(tests/test_subject_requests.py fails on a column it does not cover), and after the search a
sweep reads every value of every table, decrypted, for their ids, emails and names: the export
includes anything else it finds, and an erasure reports whatever still names them.

The export is JSON, decrypted: each item is one column of one row, with its table and row key.
Erasure deletes what is theirs alone (their `people` and `personal_chats` rows, dialog state,
contributions, messages to them) and pseudonymises them where a row must stay (the audit trail,
decisions, a referral's anonymous figures). Both write an audit entry that names the subject by
pseudonym only (bot.core.pseudonym), with counts.

`requests` answers a request: it resolves the person (`subject`), runs `search` over the tables
(one module per group of them: `people`, `referrals`, `sessions`, `desks`, `audit_log`,
`outbox`, `bot_state`), then the `sweep`, and audits it; `findings` holds what was found and
done; `__main__` is the command.
"""

from __future__ import annotations

from bot.privacy.subjects.findings import Findings, Item, Outcome
from bot.privacy.subjects.requests import OPERATOR, erase, export
from bot.privacy.subjects.search import Search
from bot.privacy.subjects.searched import NAMED_BY_ID, SEARCHED, Found
from bot.privacy.subjects.subject import Subject, resolve

__all__ = [
    "NAMED_BY_ID",
    "OPERATOR",
    "SEARCHED",
    "Findings",
    "Found",
    "Item",
    "Outcome",
    "Search",
    "Subject",
    "erase",
    "export",
    "resolve",
]
