"""`bounces`: read bounce and complaint reports and act on them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..config.settings import Config
from ..mail.bounces import BounceSummary, collect


def bounces(
    config: Config, now: datetime, maildir: Path | None = None, imap: bool = False
) -> list[BounceSummary]:
    """Read the Maildir and/or IMAP mailbox (see `mail.bounces.collect`)."""
    return collect(config, now, maildir=maildir, imap=imap)
