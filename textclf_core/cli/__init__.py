"""The textclf command line: one add_*/cmd_* pair per command.

Modules:

- :mod:`.commands`: the command table `COMMANDS` (one `add_*` function per command: `textclf validate|train|evaluate|predict|runs|models|review|export|import|delete|serve|compare|curve|label-queue|projects|users`), `build_parser()`, `main(argv=None) -> exit status` (0 ok, 2 bad input in one line, 1 internal, 130 Ctrl-C)
- :mod:`.data`: `validate`, `review`
- :mod:`.train`: `train` (`CONFIG_FLAGS`, `BOOL_FLAGS`, `config_from_args(args, report=None) -> (RunConfig, reason)`); `train --strategy auto --budget 10m` (plain `train` = auto), `--track mlflow|off`, `--project ID`, `--header-row N`
- :mod:`.runs`: `evaluate` (`print_metrics(eval)`), `runs --project ID`, `models`, `export`, `import`, `delete`
- :mod:`.serve`: `predict`, `serve`
- :mod:`.insight`: `compare`, `curve`
- :mod:`.labelling`: `label-queue`
- :mod:`.projects`: `projects`, `users`
- :mod:`.output`: what the commands share: `echo`, `echo_err`, `text_table`, `cell`, `shorten`, `read_data`, `pick_columns`, `add_header_row`, `cli_user`, `Parser`, `UsageError`, the `EXIT_*` codes
- :mod:`.printer`: the event printers: `ProgressPrinter` (runner, auto and curve events as a tqdm bar and lines), `ReviewProgress` (review stages), `REVIEW_BAR_ROWS`
- :mod:`.recommend`: the policy for a plain `train`: `recommend_config(report, overrides) -> (RunConfig, reason)` (auto through `strategies.advice.recommend` when torch is installed, else the TF-IDF baseline)
"""

from .commands import main  # noqa: F401
