"""The filters' indexes on (assignee | severity | ssvc_decision, state) end in the id.

A count by one of them among the open states (the inbox menu's saved views) then reads the
index alone: the open high-severity reports were 429 table pages read for their ids at a
million reports (bench/README.md). Each new index is made before the one it replaces goes.
"""

from django.db import migrations, models

REPLACED = (
    ("reports_rep_assigne_634e6f_idx", "reports_assignee_state_idx", "assignee"),
    ("reports_rep_severit_5d7587_idx", "reports_severity_state_idx", "severity"),
    ("reports_rep_ssvc_de_245bc0_idx", "reports_ssvc_state_idx", "ssvc_decision"),
)


class Migration(migrations.Migration):
    dependencies = [("reports", "0016_tag_link_index")]

    operations = [
        *(
            migrations.AddIndex(
                model_name="report",
                index=models.Index(fields=[field, "state", "id"], name=new),
            )
            for _old, new, field in REPLACED
        ),
        *(migrations.RemoveIndex(model_name="report", name=old) for old, _new, _field in REPLACED),
    ]
