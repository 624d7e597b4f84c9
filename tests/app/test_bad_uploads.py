"""Every file of the bad-input corpus (tests/bad_inputs) through the Upload page: a clear message,
no traceback, and the session keeps working (the last good dataset stays in use)."""

from __future__ import annotations

import re

import pytest
from bad_inputs.corpus import CASES, materialize

GOOD = b"text,label\n" + b"".join(b"nice film %d,pos\nbad film %d,neg\n" % (i, i) for i in range(10))
SMALL = [c for c in CASES if not c.large and not c.sheet]  # a typed sheet name cannot come from the page
LARGE_LIMIT = [c for c in CASES if c.large and c.env]  # the over-the-limit file: quick to reject


@pytest.mark.parametrize("case", SMALL + LARGE_LIMIT, ids=lambda c: c.name)
def test_bad_file_through_the_upload_page(app, case, tmp_path, monkeypatch):
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    app.file_uploader(key="uploader").set_value(("good.csv", GOOD, "text/csv")).run()
    assert any("good.csv" in h.value for h in app.subheader)

    content = materialize(case, tmp_path).read_bytes()
    app.file_uploader(key="uploader").set_value((case.name, content, "application/octet-stream")).run()
    assert not app.exception, [e.value for e in app.exception]
    errors = [e.value for e in app.error]
    assert all("Traceback" not in m and 'File "' not in m for m in errors)
    if case.error:
        assert any(re.search(case.error, m, re.IGNORECASE) for m in errors), (case.name, errors)
        assert any("good.csv" in h.value for h in app.subheader), "the last good dataset stays in use"
    else:
        assert any(case.name in h.value for h in app.subheader), (case.name, errors)
        if case.blocking:
            assert any("Training cannot start" in m for m in errors), (case.name, errors)
    # the session keeps working: another page renders
    app.switch_page("app_pages/strategy.py").run()
    assert not app.exception, [e.value for e in app.exception]
