"""The inventory from a TOML file (`meldpunt scope-import FILE`) and back (`scope-export`).

    [[asset]]
    kind = "domain"          # domain | url | ip | cidr | app | service
    value = "example.org"    # url: a URL prefix; app: an app id; service: a name
    subdomains = true        # domain only: the domain and every name under it
    status = "in_scope"      # in_scope | out_of_scope | third_party
    note = "Main site"
    contact = ""             # third_party: where to report instead (mail address or URL)

Upserts: an asset is known by kind, value and subdomains; its status, note and contact are
set from the file. Assets not in the file stay, unless `replace` is asked for, which
removes them. All or nothing: one bad asset and nothing changes (the error names it).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from django.db import transaction

from meldpunt.scope.inventory import AssetSpec, checked, upsert
from meldpunt.scope.matching import AssetError
from meldpunt.scope.models import Asset

FIELDS = {"kind", "value", "subdomains", "status", "note", "contact"}


def specs_from(text: str) -> list[AssetSpec]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AssetError(f"not valid TOML: {exc}") from exc
    entries = doc.get("asset", [])
    if not isinstance(entries, list):
        raise AssetError("assets are a list of [[asset]] tables")
    specs = []
    for number, entry in enumerate(entries, start=1):
        specs.append(_spec(number, entry))
    return specs


def _spec(number: int, entry: Any) -> AssetSpec:
    if not isinstance(entry, dict):
        raise AssetError(f"asset {number}: not a table")
    unknown = set(entry) - FIELDS
    if unknown:
        raise AssetError(f"asset {number}: unknown keys {', '.join(sorted(unknown))}")
    try:
        spec = AssetSpec(
            kind=_text(entry, "kind"),
            value=_text(entry, "value"),
            status=_text(entry, "status"),
            subdomains=bool(entry.get("subdomains", False)),
            note=_text(entry, "note", ""),
            contact=_text(entry, "contact", ""),
        )
        return checked(spec)
    except AssetError as exc:
        raise AssetError(f"asset {number}: {exc}") from exc


def _text(entry: dict[str, Any], key: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if not isinstance(value, str):
        raise AssetError(f"{key} is missing or not a string")
    return value


def load_file(path: str | Path, *, replace: bool = False) -> int:
    """Upsert the file's assets (and with `replace`, remove the others); how many it holds."""
    specs = specs_from(Path(path).read_text(encoding="utf-8"))
    with transaction.atomic():
        kept = [upsert(spec)[0].pk for spec in specs]
        if replace:
            Asset.objects.exclude(pk__in=kept).delete()
    return len(specs)


def dump() -> str:
    """The inventory as a TOML file `load_file` reads back."""
    out = []
    for asset in Asset.objects.order_by("kind", "value", "subdomains"):
        out.append("[[asset]]")
        out.append(f"kind = {_quote(asset.kind)}")
        out.append(f"value = {_quote(asset.value)}")
        if asset.kind == Asset.Kind.DOMAIN:
            out.append(f"subdomains = {'true' if asset.subdomains else 'false'}")
        out.append(f"status = {_quote(asset.status)}")
        out.append(f"note = {_quote(asset.note)}")
        out.append(f"contact = {_quote(asset.contact)}")
        out.append("")
    return "\n".join(out)


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'
