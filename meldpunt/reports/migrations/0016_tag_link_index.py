"""The link table's index on the tag alone becomes one on (tag, report).

Counting or filtering reports by a tag then reads the index alone: 20,000 links of a tag were
20,000 table rows fetched for their report ids (bench/README.md). Django made the old index
for the many-to-many field and names it the same on every database; it keeps no state of it,
so plain SQL replaces it.
"""

from django.db import migrations

OLD = "reports_report_tags_tag_id_e5e14752"
NEW = "reports_report_tags_tag_report_idx"


class Migration(migrations.Migration):
    dependencies = [("reports", "0015_queue_index")]

    operations = [
        migrations.RunSQL(
            sql=[
                f"CREATE INDEX {NEW} ON reports_report_tags (tag_id, report_id)",
                f"DROP INDEX IF EXISTS {OLD}",
            ],
            reverse_sql=[
                f"CREATE INDEX IF NOT EXISTS {OLD} ON reports_report_tags (tag_id)",
                f"DROP INDEX {NEW}",
            ],
        )
    ]
