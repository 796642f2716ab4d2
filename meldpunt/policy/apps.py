from django.apps import AppConfig


class PolicyConfig(AppConfig):
    name = "meldpunt.policy"
    label = "policy"
