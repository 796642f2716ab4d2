from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "meldpunt.reports"
    label = "reports"
