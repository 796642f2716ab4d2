"""Secrets and signatures per the Standard Webhooks specification (standardwebhooks.com)."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret in the spec's form: whsec_ and 32 random bytes in base64."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def headers(secret: str, msg_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
    """The three headers a receiver verifies with any Standard Webhooks library."""
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }
