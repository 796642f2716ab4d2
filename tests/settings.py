"""Test settings: the real settings module, pointed at a throw-away data directory."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Each process that loads these settings (pytest, its workers, a test's own subprocesses) has
# its own directory, gone when it ends. A server a test stops with a signal ends without
# that, so every directory lives under one root that the first process (pytest itself, which
# ends last) made and removes: a full run used to leave about eight behind in /tmp. (Not a
# MELDPUNT_ variable: the tests that start the program as an operator would drop those.)
_root = os.environ.get("PYTEST_MELDPUNT_TMP")
if _root is None or not Path(_root).is_dir():
    _root = tempfile.mkdtemp(prefix="meldpunt-tests-")
    os.environ["PYTEST_MELDPUNT_TMP"] = _root
    atexit.register(shutil.rmtree, _root, ignore_errors=True)
_data = Path(tempfile.mkdtemp(prefix="meldpunt-test-", dir=_root))
atexit.register(shutil.rmtree, _data, ignore_errors=True)
os.environ["MELDPUNT_DATA_DIR"] = str(_data)
os.environ.setdefault("MELDPUNT_ORG_NAME", "Example Org")
# Tests read English text unless they ask for another language.
os.environ.setdefault("MELDPUNT_DEFAULT_LANGUAGE", "en")

from meldpunt.lib.crypto import create_key_file  # noqa: E402
from meldpunt.settings import *  # noqa: E402, F403
from meldpunt.settings import DATA_DIR, DATABASES, MELDPUNT_KEY_FILE  # noqa: E402

create_key_file(MELDPUNT_KEY_FILE)
(DATA_DIR / "static").mkdir()
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast tests
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "attachments")},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not :memory:, so tests can read the bytes on disk and a live server can share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
