from django.apps import AppConfig


class AdvisoriesConfig(AppConfig):
    name = "meldpunt.advisories"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from meldpunt.advisories.securitytxt import csaf_field
        from meldpunt.policy import securitytxt

        securitytxt.add_fields(csaf_field)
