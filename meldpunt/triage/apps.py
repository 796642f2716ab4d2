from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "meldpunt.triage"
    label = "triage"
