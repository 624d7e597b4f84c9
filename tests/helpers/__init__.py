"""What several test files share, imported as ``from helpers.<module> import ...`` (tests/ is on sys.path,
see tests/conftest.py). A test file never imports another test file.

- :mod:`.small_data`: small labelled frames (``small_frame``, ``multi_label_frame``, ``WORDS``)
- :mod:`.reliability`: the reliability suite's configs and runners (``baseline_config``, ``tiny_config``,
  ``reviews``, ``MomentRunner``, ``PICKLE_SUFFIXES``)
- :mod:`.e2e`: the browser journeys' app server (``running_app``) and page helpers (``settled``, ``shot``,
  ``goto``, ``no_exception``)
- :mod:`.app_pages`: the AppTest page tests' sample reviews and steps (``GOOD``, ``BAD``, ``tiny_csv``,
  ``upload``, ``button``, ``no_trouble``, ``csv_with``, ``strategy_page``)
- :mod:`.live_server`: uvicorn in a thread (``live(app)``)

Still at the top of tests/ (moved when their owners' edits land): ``tiny_models.py`` (tiny random models with
local tokenizers) and ``conftest.py``.
"""
