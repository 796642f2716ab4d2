from django.apps import AppConfig


class ScopeConfig(AppConfig):
    name = "meldpunt.scope"
    label = "scope"
