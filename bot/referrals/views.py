"""What the referrals feature shows of a referral outside the form: read-only views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.referrals.model import ReferralStatus


@dataclass(frozen=True)
class ReferralSummary:
    """One line of a referrer's "my referrals" list: no case detail."""

    reference: str
    status: ReferralStatus
    model: str
    kind: str
    created_at: datetime
