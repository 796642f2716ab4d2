from typing import Any

from django.db import migrations, models

# Undone, the table goes: the look-ups' triggers (meldpunt/lib/changes.py), which write
# into it, go first. On SQLite there are none.
DROP_TRIGGERS = """
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT c.relname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
             WHERE g.tgname = 'meldpunt_lookup_changed' LOOP
        EXECUTE 'DROP TRIGGER meldpunt_lookup_changed ON ' || quote_ident(t.relname);
    END LOOP;
END
$$;
DROP FUNCTION IF EXISTS meldpunt_lookup_changed();
"""


def drop_triggers(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGERS)


class Migration(migrations.Migration):
    dependencies = [
        ("meldpunt", "0002_data_change"),
    ]

    operations = [
        migrations.CreateModel(
            name="LookupChange",
            fields=[
                ("xid", models.BigIntegerField(primary_key=True, serialize=False)),
                ("n", models.BigIntegerField(default=1)),
            ],
        ),
        # Nothing to do forwards (post_migrate makes the triggers once the table exists).
        migrations.RunPython(migrations.RunPython.noop, drop_triggers),
    ]
