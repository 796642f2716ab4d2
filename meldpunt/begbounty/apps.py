from django.apps import AppConfig


class BegbountyConfig(AppConfig):
    name = "meldpunt.begbounty"
    label = "begbounty"
