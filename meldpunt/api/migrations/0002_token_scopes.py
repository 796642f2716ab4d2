import uuid
from typing import Any

from django.db import migrations, models

import meldpunt.api.models


def read_and_triage(apps: Any, schema_editor: Any) -> None:
    # Tokens from before scopes could read and change reports: they keep exactly that.
    tokens = apps.get_model("api", "ApiToken")
    tokens.objects.update(scopes=["read", "triage"])
    for token in tokens.objects.filter(uid=None):
        token.uid = uuid.uuid4()
        token.save(update_fields=["uid"])


class Migration(migrations.Migration):

    dependencies = [
        ("api", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="scopes",
            field=models.JSONField(default=meldpunt.api.models.default_scopes),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="uid",
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.RunPython(read_and_triage, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apitoken",
            name="uid",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
