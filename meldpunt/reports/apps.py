from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "meldpunt.reports"
    label = "reports"

    def ready(self) -> None:
        # The finder's "exploited: yes" starts the CRA clock on intake (reports.regulatory).
        from meldpunt.reports import regulatory  # noqa: F401
