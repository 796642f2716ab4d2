from django.apps import AppConfig


class AdvisoriesConfig(AppConfig):
    name = "meldpunt.advisories"
    default_auto_field = "django.db.models.BigAutoField"
