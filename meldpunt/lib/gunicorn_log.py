"""gunicorn's logger without client addresses: the policy promises pseudonymous reporting.

gunicorn writes the peer's address into some of its own lines ("Invalid request from
ip=…" for a malformed request) and offers it to access-log formats (%(h)s, headers such
as X-Forwarded-For). Every line it writes passes a filter here that replaces anything
that parses as an IP address, and the access-log atoms that name the client are blanked,
so no log format can bring them back. The server's own address goes too: it cannot be
told apart, and `meldpunt serve` prints where it listens itself.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Any

from gunicorn.glogging import Logger

HIDDEN = "-"
# Candidates only; ipaddress decides, so times ("14:29:19") and versions stay.
_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.[\d.]+)?(?![\w:])")
# What gunicorn's access log can show about the client beyond the address atom.
_CLIENT_ATOMS = ("h", "a", "f")
_CLIENT_HEADERS = ("x-forwarded-for", "x-real-ip", "forwarded", "user-agent", "referer")
_CLIENT_ENVIRON = ("remote_addr", "remote_port", "http_x_forwarded_for", "http_x_real_ip")


def _mask_match(match: re.Match[str]) -> str:
    try:
        ipaddress.ip_address(match.group(0))
    except ValueError:
        return match.group(0)
    return HIDDEN


def mask_addresses(text: str) -> str:
    return _IPV6.sub(_mask_match, _IPV4.sub(_mask_match, text))


class _MaskAddresses(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_addresses(record.getMessage())
        record.args = ()
        if record.exc_info and not record.exc_text:
            # The formatter uses exc_text when it is set: the traceback is masked too.
            record.exc_text = mask_addresses(logging.Formatter().formatException(record.exc_info))
        return True


class PrivateLogger(Logger):  # type: ignore[misc]
    """gunicorn's Logger, minus client addresses (set as gunicorn's `logger_class`)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # On the loggers, not their handlers: a log configuration may replace the handlers.
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, _MaskAddresses) for f in log.filters):
                log.addFilter(_MaskAddresses())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in _CLIENT_ATOMS:
            atoms[key] = HIDDEN
        for name in _CLIENT_HEADERS:
            atoms.pop(f"{{{name}}}i", None)
        for name in _CLIENT_ENVIRON:
            atoms.pop(f"{{{name}}}e", None)
        return atoms
