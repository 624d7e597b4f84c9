"""The textclf command line: one add_*/cmd_* pair per command.

Modules:

- :mod:`.commands`: `textclf validate|train|evaluate|predict|runs|models|review|export|import|delete|serve|compare|curve|label-queue|projects|users`: one `add_*`/`cmd_*` pair per command in `COMMANDS`; `train --strategy auto --budget 10m` (plain `train` = auto), `--track mlflow|off`, `--project ID`, `--header-row N`; `runs --project ID`
"""


from .commands import main  # noqa: F401
