"""Shared UI of the textclf app, split by concern; page scripts in app_pages/ import it as ``ui``.

- ``errors``: The page error guard: a TextclfError shows its one line; anything else a generic message and the log.
- ``runs``: Runs for the pages: pick a run, the runs table, value formatting, the baseline of a run, job polling.
- ``services``: The server-wide services (run store, project store, job manager, hardware), created once per server, and the page map.
- ``session``: The browser session's project and dataset: open, switch, edit, the change log, the data report.
- ``sidebar``: The sidebar every page shows: project picker, project settings, the jobs of this session.
- ``signin``: Who is using the app: the signed-in user (users file or OIDC), a browser identity, the sign-in form.
"""

from .errors import guard  # noqa: F401
from .runs import (  # noqa: F401
    baseline_for,
    finished_runs,
    no_runs_yet,
    pick_run,
    project_name,
    run_scope,
    runs_table,
    same_data_note,
    started_by_others,
    watch_job,
    worst_confusion,
)
from .services import GENERIC_ERROR, PAGES, hardware, job_manager, project_store, run_store, warm_imports  # noqa: F401
from .session import (  # noqa: F401
    activate,
    change_log,
    close_project,
    dataset,
    distinct,
    download_button,
    fmt,
    job_details,
    log_version,
    model_fit,
    my_jobs,
    open_project,
    project,
    remember_job,
    report,
    require_dataset,
    reread_with_header_row,
    set_columns,
    set_dataset,
    working_frame,
)
from .sidebar import project_label, sidebar  # noqa: F401
from .signin import identity, login_gate, secrets_auth, signed_in_or_open, user  # noqa: F401
