"""The CSAF provider tree under /.well-known/csaf/: what aggregators mirror, exactly as stored."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import csaf as csaf_package  # type: ignore[import-untyped]  # ships no type hints
import pysequoia
import pytest
from django.test import Client, override_settings

from meldpunt.advisories.csaf import serialize, validate
from meldpunt.advisories.models import Advisory, AdvisoryRevision
from meldpunt.policy import keys
from tests.advisories import add_revision, content, make_advisory, publish

BASE = "https://meldpunt.example.org"
TREE = "/.well-known/csaf"
WHITE = f"{TREE}/white"
pytestmark = pytest.mark.usefixtures("https_base")


@pytest.fixture
def https_base() -> Any:
    with override_settings(MELDPUNT_BASE_URL=BASE, MELDPUNT_ORG_NAME="Acme"):
        yield


def get(path: str) -> Any:
    response = Client().get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response


@pytest.fixture
def published(db: Any) -> dict[str, Advisory]:
    """Two published advisories (one revised twice), one draft, one scheduled."""
    old = publish("MPSA-2025-0007", at=datetime(2025, 12, 30, 8, 0, tzinfo=UTC))
    new = publish(
        "MPSA-2026-0001",
        content(title="SQL injection", cve="CVE-2026-1111"),
        credits=["Jane Doe"],
        at=datetime(2026, 1, 10, 8, 0, tzinfo=UTC),
        revisions=3,
    )
    draft = make_advisory("MPSA-2026-0002")
    scheduled = make_advisory("MPSA-2026-0003", status=Advisory.Status.SCHEDULED)
    return {"old": old, "new": new, "draft": draft, "scheduled": scheduled}


def test_it_describes_the_provider_in_provider_metadata(published, org_key):
    response = get(f"{TREE}/provider-metadata.json")
    assert response["Content-Type"] == "application/json"
    metadata = response.json()
    assert metadata == {
        "canonical_url": f"{BASE}{TREE}/provider-metadata.json",
        "distributions": [{"directory_url": f"{BASE}{WHITE}/"}],
        # The latest publication: the third revision of MPSA-2026-0001.
        "last_updated": "2026-01-12T08:00:00Z",
        "list_on_CSAF_aggregators": True,
        "metadata_version": "2.0",
        "mirror_on_CSAF_aggregators": True,
        "public_openpgp_keys": [{"fingerprint": org_key.fingerprint, "url": f"{BASE}/pgp-key.asc"}],
        "publisher": {
            "category": "vendor",
            "name": "Acme",
            "namespace": BASE,
            "contact_details": "mailto:security@example.org",
        },
        "role": "csaf_provider",
    }
    # The key it names is the one served there.
    served = pysequoia.Cert.from_bytes(get("/pgp-key.asc").content)
    assert served.fingerprint.upper() == org_key.fingerprint


def test_it_lists_exactly_the_published_advisories_in_index_and_changes(published):
    index = get(f"{WHITE}/index.txt")
    assert index["Content-Type"] == "text/plain; charset=utf-8"
    assert sorted(index.content.decode().splitlines()) == [
        "2025/mpsa-2025-0007.json",
        "2026/mpsa-2026-0001.json",
    ]
    changes = get(f"{WHITE}/changes.csv").content.decode()
    # CSAF 2.0 requirement 13: "path","current_release_date", the latest change first.
    assert changes.splitlines() == [
        '"2026/mpsa-2026-0001.json","2026-01-12T08:00:00Z"',
        '"2025/mpsa-2025-0007.json","2025-12-30T08:00:00Z"',
    ]
    assert next(csv.reader(changes.splitlines())) == [
        "2026/mpsa-2026-0001.json",
        "2026-01-12T08:00:00Z",
    ]
    for identifier in ("mpsa-2026-0002", "mpsa-2026-0003"):
        assert identifier not in index.content.decode() + changes


def mirror(tmp_path: Path) -> Path:
    """Copy the served tree to disk as an aggregator would, following index.txt."""
    root = tmp_path / "white"
    root.mkdir()
    index = get(f"{WHITE}/index.txt").content
    (root / "index.txt").write_bytes(index)
    for line in index.decode().splitlines():
        target = root / line
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(get(f"{WHITE}/{line}").content)
    return root


def test_it_lays_out_the_tree_in_year_folders_that_the_csaf_audit_accepts(published, tmp_path):
    result = csaf_package.audit_tree(str(mirror(tmp_path)))
    assert result.advisory_count == 2
    # The package's changes.csv check reads the date first (CSAF 2.1's order); CSAF 2.0
    # puts the path first, which the test above checks. The other rules must pass.
    assert [v for v in result.violations if v.rule != "changes-csv"] == []
    assert result.errors == []


def test_it_serves_the_stored_document_byte_for_byte_with_matching_hashes(published):
    revision = AdvisoryRevision.objects.get(advisory=published["new"], number=3)
    path = f"{WHITE}/2026/mpsa-2026-0001.json"
    response = get(path)
    assert response["Content-Type"] == "application/json"
    assert response.content == serialize(revision.csaf)
    assert get(path).content == response.content  # the same bytes on every request
    document = json.loads(response.content)
    assert validate(document) == []
    assert document["document"]["tracking"]["version"] == "3"
    assert document["document"]["references"][1]["url"] == f"{BASE}{path}"
    for algorithm in ("sha256", "sha512"):
        text = get(f"{path}.{algorithm}").content.decode()
        digest = hashlib.new(algorithm, response.content).hexdigest()
        assert text == f"{digest}  mpsa-2026-0001.json\n"


def test_it_serves_the_latest_revision_once_revised(published):
    path = f"{WHITE}/2025/mpsa-2025-0007.json"
    before = get(path).content
    add_revision(
        published["old"],
        content(remediation="Upgrade to 2.3.3."),
        ["n0sy"],
        datetime(2026, 2, 1, 9, 0, tzinfo=UTC),
        "Fix version corrected.",
    )
    after = get(path).content
    assert after != before
    tracking = json.loads(after)["document"]["tracking"]
    # Still in the folder of its first publication (requirement 11).
    assert tracking["initial_release_date"] == "2025-12-30T08:00:00Z"
    assert tracking["version"] == "2"
    assert get(f"{WHITE}/changes.csv").content.decode().splitlines()[0] == (
        '"2025/mpsa-2025-0007.json","2026-02-01T09:00:00Z"'
    )


def test_it_signs_each_document_so_that_gpg_verifies_it(published, org_key, gpg, tmp_path):
    gpg.import_key(keys.public_armored())
    path = f"{WHITE}/2026/mpsa-2026-0001.json"
    data, signature = get(path).content, get(f"{path}.asc")
    assert signature["Content-Type"] == "application/pgp-signature"
    assert signature.content.startswith(b"-----BEGIN PGP SIGNATURE-----")
    (tmp_path / "doc.json").write_bytes(data)
    (tmp_path / "doc.json.asc").write_bytes(signature.content)
    result = gpg.run(
        "--status-fd", "1", "--verify", str(tmp_path / "doc.json.asc"), str(tmp_path / "doc.json")
    )
    assert re.search(rb"VALIDSIG [0-9A-F]{40} .* " + org_key.fingerprint.encode(), result.stdout)
    (tmp_path / "doc.json").write_bytes(data.replace(b"SQL injection", b"SQL inject1on"))
    tampered = gpg.run(
        "--verify", str(tmp_path / "doc.json.asc"), str(tmp_path / "doc.json"), check=False
    )
    assert tampered.returncode != 0


def test_it_never_serves_drafts_scheduled_or_unknown_documents(published, org_key):
    client = Client()
    for path in (
        f"{WHITE}/2026/mpsa-2026-0002.json",  # draft
        f"{WHITE}/2026/mpsa-2026-0003.json",  # scheduled
        f"{WHITE}/2026/mpsa-2026-0003.json.asc",
        f"{WHITE}/2026/mpsa-2026-0003.json.sha256",
        f"{WHITE}/2026/mpsa-2026-9999.json",  # unknown
        f"{WHITE}/2025/mpsa-2026-0001.json",  # published, but not in that year's folder
        f"{WHITE}/2026/MPSA-2026-0001.json",  # not the spec's file name
        f"{WHITE}/2026/mpsa-2026-0001.json.md5",
        f"{WHITE}/2026/mpsa-2026-0001",
        f"{WHITE}/2024/",
    ):
        assert client.get(path).status_code == 404, path


def test_it_offers_directory_listings_for_people_browsing_the_tree(published):
    assert 'href="white/"' in get(f"{TREE}/").content.decode()
    white = get(f"{WHITE}/").content.decode()
    for entry in ("index.txt", "changes.csv", "2025/", "2026/"):
        assert f'href="{entry}"' in white
    year = get(f"{WHITE}/2026/").content.decode()
    assert 'href="mpsa-2026-0001.json"' in year
    assert 'href="mpsa-2026-0001.json.asc"' in year
    assert "0002" not in year and "0003" not in year


def test_it_answers_only_get_and_head_publicly_and_sets_no_cookie(published):
    client = Client()
    for path in (f"{TREE}/provider-metadata.json", f"{WHITE}/index.txt", f"{WHITE}/changes.csv"):
        assert client.post(path).status_code == 405
        head = client.head(path)
        assert head.status_code == 200
        assert "public" in head["Cache-Control"]
        assert head["Access-Control-Allow-Origin"] == "*"
    assert not client.cookies


def test_it_has_no_signature_to_offer_without_an_organisation_key(published):
    assert Client().get(f"{WHITE}/2026/mpsa-2026-0001.json.asc").status_code == 404
    metadata = get(f"{TREE}/provider-metadata.json").json()
    assert "public_openpgp_keys" not in metadata


def test_it_lists_nothing_before_the_first_publication(db):
    assert get(f"{WHITE}/index.txt").content == b""
    assert get(f"{WHITE}/changes.csv").content == b""
