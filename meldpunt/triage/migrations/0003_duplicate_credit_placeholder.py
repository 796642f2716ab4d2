"""The default duplicate message no longer says "we cannot credit you" whatever the policy says.

Whether the finder of a duplicate is credited is MELDPUNT_DUPLICATE_CREDIT's choice, so the
sentence became the {duplicate_credit} placeholder. Only templates still holding the shipped
sentence change; a text an admin rewrote is theirs.
"""

from typing import Any

from django.db import migrations

OLD = {
    "en": "As we credit the person who reported a vulnerability first, we cannot credit you for this one.",
    "nl": "Omdat wij de persoon vermelden die een kwetsbaarheid als eerste heeft gemeld, kunnen wij u voor deze kwetsbaarheid helaas niet als ontdekker vermelden.",
    "fr": "Comme nous citons la personne qui a signal\u00e9 une vuln\u00e9rabilit\u00e9 en premier, nous ne pouvons malheureusement pas vous citer pour celle-ci.",
}
PLACEHOLDER = "{duplicate_credit}"


def forward(apps: Any, schema_editor: Any) -> None:
    MessageTemplate = apps.get_model("triage", "MessageTemplate")
    for template in MessageTemplate.objects.filter(kind="duplicate"):
        old = OLD.get(template.language)
        if old and old in template.body:
            template.body = template.body.replace(old, PLACEHOLDER)
            template.save(update_fields=["body"])


def backward(apps: Any, schema_editor: Any) -> None:
    MessageTemplate = apps.get_model("triage", "MessageTemplate")
    for template in MessageTemplate.objects.filter(kind="duplicate"):
        old = OLD.get(template.language)
        if old and PLACEHOLDER in template.body:
            template.body = template.body.replace(PLACEHOLDER, old)
            template.save(update_fields=["body"])


class Migration(migrations.Migration):
    dependencies = [("triage", "0002_default_templates")]

    operations = [migrations.RunPython(forward, backward)]
