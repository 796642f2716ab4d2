"""The benchmark's baseline: the same server answering a minimal view that inserts one row.

Only routed when MELDPUNT_BENCH_VIEWS is on (never in production).
"""

from __future__ import annotations

from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

_table_ready = False


def _ensure_table() -> None:
    global _table_ready
    if _table_ready:
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS bench_baseline (id INTEGER, note TEXT)")
    except DatabaseError:
        pass  # PostgreSQL: another worker created it at the same moment
    _table_ready = True


@csrf_exempt
@require_POST
def baseline(request: HttpRequest) -> HttpResponse:
    _ensure_table()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_baseline (id, note) VALUES (1, %s)", ["x"])
    return HttpResponse("ok")
