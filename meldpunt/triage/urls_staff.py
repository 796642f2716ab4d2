from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.triage import staff_accounts

# Staff accounts (administrators), named by the profile's random uid; own sessions (staff).
urlpatterns: list[URLPattern] = [
    path("staff/", staff_accounts.staff_list, name="staff"),
    path("staff/<uuid:uid>/", staff_accounts.staff_member, name="staff_member"),
    path("staff/<uuid:uid>/deactivate/", staff_accounts.staff_deactivate, name="staff_deactivate"),
    path("staff/<uuid:uid>/activate/", staff_accounts.staff_activate, name="staff_activate"),
    path(
        "staff/<uuid:uid>/end-sessions/",
        staff_accounts.staff_end_sessions,
        name="staff_end_sessions",
    ),
    path("sessions/", staff_accounts.my_sessions, name="my_sessions"),
    path("sessions/<uuid:uid>/end/", staff_accounts.my_session_end, name="my_session_end"),
]
