"""Seal the affected asset: a dump must not name a system with an unpatched weakness."""

from django.db import migrations, models

from meldpunt.lib import crypto

# Historical models have no Sealed descriptor: seal with the AAD it uses, `<label>:<uid>:<name>`.
NAME = "assessment"


def _aad(report) -> str:  # type: ignore[no-untyped-def]
    return f"{report._meta.label_lower}:{report.uid}:{NAME}"


def seal_assets(apps, schema_editor):  # type: ignore[no-untyped-def]
    report_model = apps.get_model("reports", "Report")
    for report in (
        report_model.objects.exclude(affected_asset="")
        .only("pk", "uid", "affected_asset")
        .iterator()
    ):
        blob = crypto.seal_json({"affected_asset": report.affected_asset}, _aad(report))
        report_model.objects.filter(pk=report.pk).update(assessment_blob=blob)


def open_assets(apps, schema_editor):  # type: ignore[no-untyped-def]
    report_model = apps.get_model("reports", "Report")
    for report in (
        report_model.objects.exclude(assessment_blob=b"")
        .only("pk", "uid", "assessment_blob")
        .iterator()
    ):
        asset = crypto.open_json(report.assessment_blob, _aad(report)).get("affected_asset", "")
        report_model.objects.filter(pk=report.pk).update(affected_asset=asset)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0004_retention"),
    ]

    operations = [
        migrations.AddField(
            model_name="report",
            name="assessment_blob",
            field=models.BinaryField(default=b""),
        ),
        migrations.RunPython(seal_assets, open_assets),
        migrations.RemoveField(
            model_name="report",
            name="affected_asset",
        ),
    ]
