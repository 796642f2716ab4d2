"""An optional proof-of-work on the report form (ALTCHA v1), with no third party.

The form carries a challenge signed with a key derived from the key file; the page's
script finds the number whose SHA-256 with the salt gives the challenge and sends it
back. A valid, unused solution lets a submission count against the normal limits; a
submission without one (JavaScript off, Tor Browser "safest") is still accepted, but
only a few times per client and window: rate limits still apply, more strictly.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

from altcha.v1 import ChallengeOptions, create_challenge, verify_solution
from django.conf import settings
from django.utils import timezone

from meldpunt import ratelimit
from meldpunt.lib import crypto


def _key() -> str:
    return crypto.load_keyring().index("proof-of-work", "altcha-v1").hex()


def enabled() -> bool:
    return bool(settings.MELDPUNT_PROOF_OF_WORK)


def new_challenge(now: datetime | None = None) -> str:
    """The challenge as JSON for the page's script; it expires with the form."""
    expires = (now or timezone.now()) + timedelta(hours=settings.MELDPUNT_FORM_MAX_AGE_HOURS)
    challenge = create_challenge(
        ChallengeOptions(
            hmac_key=_key(), max_number=settings.MELDPUNT_POW_MAX_NUMBER, expires=expires
        )
    )
    return json.dumps(
        {
            "algorithm": challenge.algorithm,
            "challenge": challenge.challenge,
            "maxnumber": challenge.max_number,
            "salt": challenge.salt,
            "signature": challenge.signature,
        }
    )


def _signature(payload: str) -> str:
    try:
        return str(json.loads(base64.b64decode(payload, validate=True))["signature"])
    except (ValueError, KeyError, TypeError):
        return ""


def solved(payload: str) -> bool:
    """A valid solution of one of our challenges, not expired, and never used before."""
    if not payload or len(payload) > 2000:
        return False
    try:
        valid, _error = verify_solution(payload, _key(), check_expires=True)
    except Exception:  # a payload that is not even JSON: no solution
        return False
    if not valid:
        return False
    # Each challenge counts once: a replayed solution is no solution.
    window = timedelta(hours=settings.MELDPUNT_FORM_MAX_AGE_HOURS)
    return ratelimit.hit(ratelimit.Limit("pow-used", 1, window), _signature(payload))
