"""When each background process last showed it was working."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """One row per process kind and host: `worker`, `fetchmail` or `smtpd` on a host label.

    `last_seen` is the last loop that ran (worker), the last successful poll (fetchmail) or
    the last mail accepted (smtpd). Nothing here says anything about a report.
    """

    name = models.CharField(max_length=20)
    host = models.CharField(max_length=100)
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "host"], name="ops_heartbeat_name_host")
        ]

    def __str__(self) -> str:
        return f"{self.name} on {self.host}"
