"""Labelling by people: one person or a team, from the first text to the labels a run trains on.

Modules (no streamlit anywhere):

- :mod:`.team` — annotators in a project (:class:`~.team.TeamSettings`, :class:`~.team.Member`), each
  one's labels kept as their own lines in the project's change log (:func:`~.team.annotations`,
  :func:`~.team.add_annotation`, :func:`~.team.undo_annotation`), the overlap queue
  (:func:`~.team.queue_for`, :func:`~.team.visible_label`), agreement (:func:`~.team.agreement`:
  Cohen's κ per pair, Krippendorff's α overall and per class, intervals, confused classes, trend,
  one sentence; for multi-label projects label sets by MASI distance, Jaccard and per-class presence),
  consensus by majority (per class for multi-label) and CROWDLAB (single-label) (:func:`~.team.consensus`,
  :func:`~.team.annotator_quality`), the reviewer's queue (:func:`~.team.disagreements`,
  :func:`~.team.settle`) and the labels a run trains on with ``RunConfig.label_source="consensus"``
  (:func:`~.team.training_labels`).
- :mod:`.guidelines` — the codebook (a description and example texts per class), every saved
  version dated with its author; the labels given before a change.
- :mod:`.exchange` — annotations in and out: Label Studio's JSON, and JSONL / Parquet that
  Hugging Face ``datasets`` loads.
- :mod:`.coldstart` — suggestions before the first label, from the class names and descriptions.
- :mod:`.team_log` — one annotator's labels in the label-log interface a ``LabellingSession`` uses
  (the Label page on a team project: own labels only, own undo, the overlap queue).
- :mod:`.model_store` — the Label page's fast model kept with the labels (a reload keeps the queue).

Layering: the team's settings (``TeamSettings``, ``Member``) are stored with the project and defined in
:mod:`textclf_core.store.projects` (re-exported by :mod:`.team`), so the store never imports this package;
``training_setup`` reads the consensus from here when ``RunConfig.label_source == "consensus"``.

Active learning, one concern per module (each imports only the ones before it):

- :mod:`.label_log` — where a session's labels are written as they are made: ``ProjectLabelLog`` (the
  project's change log), ``LabelLog`` (a file outside any project, ``$TEXTCLF_HOME/labelling``),
  ``data_fingerprint`` (the texts' identity).
- :mod:`.fast_model` — the fast model: features (``build_features``, ``cached_features``), the fit
  (``fit_fast_model`` → ``FastModel``), the cross-validated ``Estimate``, ``progress_sentence``, the
  fields :mod:`.model_store` keeps.
- :mod:`.queue` — what to label next: ``STRATEGIES``, ``queue_order`` (uncertainty spread over clusters).
- :mod:`.active` — the entry point: ``LabellingSession`` (queue, suggestions, undo, the fast model
  retrained in the background), the schedulers, ``highlight``, ``simulate`` (the bench's labeller); it
  re-exports the public names of the three modules above, so ``active.X`` works for all of them.
"""
