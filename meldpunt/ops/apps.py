from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "meldpunt.ops"
    label = "ops"
