from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "meldpunt.accounts"
    label = "accounts"

    def ready(self) -> None:
        from meldpunt.accounts.gate import guard_admin_site

        guard_admin_site()
