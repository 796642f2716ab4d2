from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django.views.i18n import set_language

from meldpunt.accounts import passkey_views
from meldpunt.accounts import sso_views as sso
from meldpunt.accounts import views as accounts
from meldpunt.api import views as api_views
from meldpunt.api.api import api as staff_api
from meldpunt.intake import views as intake
from meldpunt.monitoring import views as monitoring
from meldpunt.portal import privacy
from meldpunt.portal import views as portal
from meldpunt.public import policy, published

portal_patterns = (
    [
        path("", portal.status, name="status"),
        path("reply/", portal.reply, name="reply"),
        path("attachment/<uuid:uid>/", portal.attachment, name="attachment"),
        path("credit/", portal.credit, name="credit"),
        path("logout/", portal.logout, name="logout"),
        path("export/", privacy.export, name="export"),
        path("erase/", privacy.erase, name="erase"),
    ],
    "portal",
)

staff_patterns = (
    [
        path("login/", accounts.login_view, name="login"),
        path("login/verify/", accounts.verify, name="verify"),
        path("login/enrol/", accounts.enrol, name="enrol"),
        path("login/again/", accounts.again, name="again"),
        path("login/sso/", sso.sso_login, name="sso_login"),
        path("login/sso/callback/", sso.sso_callback, name="sso_callback"),
        path("login/passkey/options/", passkey_views.sign_in_options, name="passkey_options"),
        path("login/passkey/", passkey_views.sign_in, name="passkey_sign_in"),
        path("passkeys/", passkey_views.manage, name="passkeys"),
        path("passkeys/options/", passkey_views.register_options, name="passkey_register_options"),
        path("passkeys/register/", passkey_views.register, name="passkey_register"),
        path("passkeys/<uuid:uid>/remove/", passkey_views.remove, name="passkey_remove"),
        path("logout/", accounts.logout_view, name="logout"),
    ],
    "accounts",
)

urlpatterns: list[URLPattern | URLResolver] = [
    path("", policy.policy, name="policy"),
    path("report/", intake.report, name="report"),
    path("pgp-key.asc", published.pgp_key, name="pgp_key"),
    path(".well-known/openpgpkey/hu/<str:local_hash>", published.wkd_key, name="wkd_key"),
    path(".well-known/openpgpkey/policy", published.wkd_policy, name="wkd_policy"),
    path(".well-known/security.txt", published.security_txt, name="security_txt"),
    # /advisories/, the feed, /hall-of-fame/ and the CSAF provider tree under /.well-known/csaf/.
    path("", include("meldpunt.public.urls_advisories")),
    path("status/advisory/", include("meldpunt.portal.urls_advisories")),
    path("status/", include(portal_patterns)),
    path("language/", set_language, name="set_language"),
    path("triage/", include(staff_patterns)),
    path("triage/", include("meldpunt.triage.urls")),
    path("triage/audit/", include("meldpunt.triage.urls_audit")),
    path("triage/advisories/", include("meldpunt.triage.urls_advisories")),
    path("triage/tokens/", include("meldpunt.api.urls")),
    # The API's documentation page: a browser page for signed-in staff, not a token's.
    path("api/v1/docs", api_views.docs, name="api_docs"),
    path("api/v1/", staff_api.urls),
    # For load balancers and Prometheus (docs/monitoring.md).
    path("healthz", monitoring.healthz, name="healthz"),
    path("readyz", monitoring.readyz, name="readyz"),
    path("metrics", monitoring.metrics, name="metrics"),
    # Django's admin, for what the desk has no page for (meldpunt/triage/admin.py).
    path("admin/", admin.site.urls),
]

# A crash page that leaks nothing, and "try again" for a database lost after the view.
handler500 = "meldpunt.lib.middleware.server_error"
