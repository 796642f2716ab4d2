from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "meldpunt.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from meldpunt.accounts import sessions
        from meldpunt.accounts.gate import guard_admin_site

        guard_admin_site()
        # Every way of signing in (password, single sign-on, passkey) ends in login().
        user_logged_in.connect(sessions.record_sign_in, dispatch_uid="staff_session_in")
        user_logged_out.connect(sessions.forget_sign_out, dispatch_uid="staff_session_out")
