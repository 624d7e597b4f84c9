"""Label: label texts from scratch, one at a time, with the keyboard; the model picks what comes next.

Everything is a call into ``textclf_core.labelling.active`` (a LabellingSession per project, kept in the
browser session). Each label is a ``relabel`` in the current project's change log, written as it is
made (the log Label review and Training read), and the class list is in the project's
``labelling.json``, so a reload or a server restart (``?project=`` in the URL) continues where the
user left off without uploading again.
The fast model retrains in a background thread; this page only reads its status.
"""

from __future__ import annotations

import html
import re

import streamlit as st
from streamlit_shortcuts import add_shortcuts

import app_ui as ui
from textclf_core.errors import TextclfError
from textclf_core.figures import class_distribution, labelling_curve
from textclf_core.labelling import active, guidelines, team, team_log

MAX_SHORTCUT_CLASSES = 10  # digits 1-9 and 0
POLL_SECONDS = 2.0  # while a retrain or the cold start runs, how often the page looks whether it ended
# streamlit-shortcuts listens on the whole document; while a text field has the focus its keys are
# the user's, so its map is emptied for that one key press (restored once the event is done).
TYPING_GUARD = """<script>
const pw = window.parent.window;
if (!pw.__textclfTypingGuard) {
  pw.__textclfTypingGuard = true;
  pw.addEventListener('keydown', function (e) {
    const t = e.target;
    const typing = t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName))
                   && !(t.tagName === 'INPUT' && ['checkbox', 'radio', 'button'].includes(t.type));
    if (!typing) return;
    const saved = pw.__streamlitShortcutsMap || {};
    const empty = {};
    pw.__streamlitShortcutsMap = empty;
    setTimeout(function () {
      if (pw.__streamlitShortcutsMap === empty) pw.__streamlitShortcutsMap = saved;
      else pw.__streamlitShortcutsMap = Object.assign(saved, pw.__streamlitShortcutsMap);
    }, 0);
  }, true);
}
</script>"""

st.title("Label")
st.write(
    "Label texts one at a time. The model learns as you go and brings the texts it is least sure of; "
    "keys: **1–9** pick a class, **Enter** accepts the suggestion, **S** skips, **U** undoes, "
    "**← →** move through what you labelled."
)


# --- which table ----------------------------------------------------------------------------------------
ds = ui.require_dataset(labels=False)
texts = ds["df"][ds["text_col"]].tolist()


def flash(kind: str, message: str) -> None:
    st.session_state["label_flash"] = (kind, message)


def act(fn, *args) -> None:
    """A button callback: run the core call; a TextclfError becomes a message on the next run."""
    try:
        fn(*args)
    except TextclfError as exc:
        flash("error", str(exc))


def the_project(ds: dict):
    return ui.project_store().get(ds["project"], user=ui.user()) if ds.get("project") else None


def annotator_name(proj) -> str | None:
    """Who labels on a team project: the signed-in user, else a named guest picked here. None: no team."""
    if proj is None or not team_log.is_team_project(proj):
        return None
    signed = ui.user()
    if signed:
        return signed
    names = proj.team().annotators
    return st.selectbox(
        "Label as",
        names,
        key="label_as",
        help="Sign-in is off: pick your name on this team "
        "(the owner adds names on the Team page). Your labels are kept as yours.",
    )


def session_options(ds: dict, proj, me: str | None) -> dict:
    """Where the labels go (the project's log, or one annotator's on a team) and the fast model's name."""
    if proj is None:
        return {"label_log": active.LabelLog.for_data(active.data_fingerprint(texts))}
    base = ds["df"][ds["label_col"]].tolist() if ds.get("label_col") in ds["df"].columns else None
    return team_log.session_options(
        proj, change_log=ui.change_log(), base_labels=base, label_col=ds.get("label_col"), annotator=me
    )


def class_guides(proj) -> dict:
    """The codebook's descriptions and examples by class (for the cold start); {} outside a project."""
    if proj is None:
        return {}
    book = guidelines.current(proj)
    return {name: {"description": g.description, "examples": list(g.examples)} for name, g in book.classes.items()}


with ui.guard("label setup"):
    sessions = st.session_state.setdefault("label_sessions", {})
    proj = the_project(ds)
    me = annotator_name(proj)
    # One session per project and label column (a new column choice is new labels), and per annotator on a team.
    key = (
        ((ds["project"], ds.get("label_col")) + ((me,) if me else ()))
        if ds.get("project")
        else active.data_fingerprint(texts)
    )
    session: active.LabellingSession | None = sessions.get(key)
    options = {"label_log": session.log} if session is not None else session_options(ds, proj, me)
    log = options["label_log"]
    if session is None and log.meta().get("classes"):
        # Labelled before (another tab, a reload, a server restart): continue with its classes and labels,
        # and the fast model kept with them (the queue keeps its order).
        session = sessions[key] = active.LabellingSession(texts, **options)
        session.resume()
        session.prepare_cold_start(class_guides(proj))  # only while no model exists yet
        flash("info", f"Continuing where you left off: {len(session.labels()):,} labels so far.")
    if isinstance(log, active.ProjectLabelLog) and log.changes is not ui.change_log():
        log.refresh()  # the project was reopened since: read the edits made meanwhile

if session is None:
    st.subheader(f"Start labelling {ds['name']} · {len(texts):,} texts")
    with st.form("label_start"):
        names = st.text_area(
            "Class names (one per line, or separated by commas)",
            key="label_class_names",
            placeholder="positive\nnegative",
        )
        columns = [None] + [str(c) for c in ds["df"].columns if c != ds["text_col"]]
        import_col = st.selectbox(
            "…or take the class names from a column",
            columns,
            key="label_import_col",
            format_func=lambda c: "(none)" if c is None else c,
        )
        multi = st.toggle("Several classes per text (multi-label)", key="label_multi")
        cold = st.toggle(
            "Suggest from the class names and guidelines before the first label",
            value=True,
            key="label_cold_start",
            help="Reads the texts with the bundled English encoder (texts in other scripts only get "
            "a match of the class words). Its guesses are marked as not trained until the "
            "model has learnt from your labels.",
        )
        start = st.form_submit_button("Start labelling", type="primary", icon=":material/play_arrow:")
    if start:
        with ui.guard("label start"):
            classes = [n.strip() for n in re.split(r"[\n,]", names or "") if n.strip()]
            if import_col is not None:
                from textclf_core.labels import clean_label

                values = {clean_label(v) for v in ds["df"][import_col]} - {None}
                if len(values) > 50:
                    raise TextclfError(
                        f"Column '{import_col}' has {len(values):,} different values",
                        hint="Choose a column of class names, or type them",
                    )
                classes += sorted(v for v in values if v not in classes)
            if not classes:
                raise TextclfError("Name at least one class to start", hint="Type the class names, one per line")
            if ds.get("project") and not ds.get("label_col"):
                # A file of texts only: the labels need a column of the project to go to.
                column = ui.project_store().get(ds["project"], user=ui.user()).add_label_column("label")
                ds = ui.open_project(ds["project"])
                options = session_options(ds, proj, me)
                key = (ds["project"], column) + ((me,) if me else ())
                flash(
                    "info",
                    f"Your labels go to a new column '{column}' of project {ds['name']}; "
                    "Label review, Training and a reload see them.",
                )
            session = sessions[key] = active.LabellingSession(texts, classes, multi_label=multi, **options)
            if cold:
                session.prepare_cold_start(class_guides(proj))
            st.rerun()
    st.stop()

# --- the card --------------------------------------------------------------------------------------------
# The card keeps the same elements in the same places from one key press to the next (messages and
# the suggestion go into fixed containers, disabled buttons stay drawn): when the first suggestion
# inserted elements above the class buttons, the next key press clicked a button being remounted and
# was lost (seen in the browser test).
st.iframe(TYPING_GUARD, height=1, width=1, alt="keyboard shortcut guard")  # a script: needs the same-origin frame
messages = st.container()
if st.session_state.get("label_flash"):
    kind, message = st.session_state.pop("label_flash")
    (messages.error if kind == "error" else messages.info)(message)

labels = session.labels()
classes = session.classes
row = session.current()
guide = session.guide()
card, side = st.columns([3, 2], gap="large")


def suggestion_line(suggestion, guide, row: int) -> str:
    """The suggestion as the user should read it: a zero-shot guess says it is not trained."""
    value, confidence = suggestion
    shown = html.escape(", ".join(value) if isinstance(value, list) else (value or "(no class)"))
    if guide is not None and guide.source == "zero-shot":
        tuned = guide.extra.get("calibrated_on")
        words = guide.extra.get("words")
        how = (
            "class words found in the text: the English encoder cannot read it"
            if words is not None and words[row]
            else "from the class names and guidelines"
        )
        return (
            f"Zero-shot guess: **{shown}** · {confidence:.0%} (not trained: {how}"
            + (f"; confidence fitted on your {tuned} labels" if tuned else "")
            + "; **Enter** accepts)"
        )
    extra = f" ({html.escape(guide.note)})" if guide is not None and guide.source == "blend" else ""
    return f"Model suggests **{shown}** · {confidence:.0%} sure{extra} (**Enter** accepts)"


def teammates_note(row: int) -> str | None:
    """On a team: a colleague's label where it may be seen; on an overlap text, that it stays hidden."""
    if me is None:
        return None
    frame = session.log.frame()
    settings = proj.team()
    shown = team.visible_label(row, me, frame, settings)
    if row in labels:
        return None
    if shown is not None:
        return f"A teammate labelled this: {shown}"
    if row in team.overlap_rows(settings, [row]):
        return "Also given to another annotator: their label stays hidden until you give yours."
    return None


with card:
    query = st.text_input(
        "Search the texts",
        key="label_search",
        placeholder="a word or phrase",
        help="Shortcuts are off while you type here; matches are listed under the card",
    )
    if row is None:
        st.success("Every text is labelled. Train with these labels on the right.", icon=":material/task_alt:")
    else:
        where = (
            "from your history"
            if session.cursor is not None
            else "suggested by the model"
            if session.model is not None
            else "ordered by zero-shot guesses until the model starts"
            if guide is not None
            else "in random order until the model starts"
        )
        st.caption(f"Text {row + 1:,} of {len(texts):,} · {where} · {len(labels):,} labelled")
        st.markdown(
            f'<div class="textclf-card" style="font-size:1.35rem;line-height:1.6;padding:1rem 1.2rem;'
            f"border:1px solid #ddd;border-radius:0.5rem;white-space:pre-wrap;max-height:60vh;"
            f'overflow-y:auto">{active.highlight(texts[row], query)}</div>',
            unsafe_allow_html=True,
        )
        current_label = labels.get(row)
        blind = current_label is None and team.suggestion_hidden(row, me, proj.team() if me else None)
        suggestion = None if blind else session.suggestion(row)
        about = st.container()
        if suggestion is not None:
            about.markdown(suggestion_line(suggestion, guide, row))
        elif blind:
            about.caption(
                "No model suggestion on shared texts: each annotator answers on their own, so the agreement "
                "measures people, not the model."
            )
        else:
            about.caption(session.cold_start_message() or session.status().message)
        if current_label is not None:
            about.caption(f"Labelled: {current_label}")
        note = teammates_note(row)
        if note:
            about.caption(note)

        shortcuts = {}
        cols = st.columns(min(len(classes), 5) or 1)
        if session.multi_label:
            chosen_now = set(active.split_cell(current_label)) if current_label else set()
            for j, name in enumerate(classes):
                key = f"label_toggle_{row}_{j}"
                cols[j % len(cols)].toggle(
                    f"{(j + 1) % 10}  {name}" if j < MAX_SHORTCUT_CLASSES else name, value=name in chosen_now, key=key
                )
                if j < MAX_SHORTCUT_CLASSES:
                    shortcuts[key] = str((j + 1) % 10)

            def save_multi(r=row):
                picked = [n for j, n in enumerate(classes) if st.session_state.get(f"label_toggle_{r}_{j}")]
                act(session.label, r, picked)

            st.button(
                "Save these classes", key="label_save", type="primary", on_click=save_multi, icon=":material/check:"
            )
            shortcuts["label_save"] = "enter"
        else:
            for j, name in enumerate(classes):
                key = f"label_class_{j}"
                digit = str((j + 1) % 10) if j < MAX_SHORTCUT_CLASSES else None
                cols[j % len(cols)].button(
                    f"{digit}  {name}" if digit else name,
                    key=key,
                    width="stretch",
                    type="primary" if current_label == name else "secondary",
                    on_click=act,
                    args=(session.label, row, name),
                )
                if digit:
                    shortcuts[key] = digit
            st.button(
                f"Accept suggestion: {suggestion[0]}"
                if suggestion
                else "Accept suggestion (none on shared texts)"
                if blind
                else "Accept suggestion (none yet)",
                key="label_accept",
                on_click=act,
                args=(session.accept, row),
                icon=":material/done:",
                disabled=suggestion is None,
            )
            shortcuts["label_accept"] = "enter"
        b1, b2, b3, b4 = st.columns(4)
        b1.button("Skip (S)", key="label_skip", on_click=act, args=(session.skip, row), width="stretch")
        b2.button(
            "Undo (U)", key="label_undo", on_click=act, args=(session.undo,), width="stretch", disabled=not labels
        )
        b3.button("← Back", key="label_back", on_click=act, args=(session.back,), width="stretch", disabled=not labels)
        b4.button(
            "Forward →",
            key="label_forward",
            on_click=act,
            args=(session.forward,),
            width="stretch",
            disabled=session.cursor is None,
        )
        shortcuts.update(label_skip="s", label_undo="u", label_back="arrowleft", label_forward="arrowright")
        add_shortcuts(**shortcuts)

    results = st.container()
    if query:
        with results, ui.guard("label search"):
            needle = query.casefold()
            hits = [i for i, t in enumerate(texts) if needle in t.casefold()][:20]
            st.caption(
                f"{len(hits)} match{'es' if len(hits) != 1 else ''} shown (first 20)"
                if hits
                else "No text contains that."
            )
            for i in hits[:8]:
                c1, c2 = st.columns([6, 1])
                snippet = texts[i] if len(texts[i]) <= 240 else texts[i][:240] + "…"
                c1.markdown(active.highlight(snippet, query), unsafe_allow_html=True)
                c2.button("Open", key=f"label_open_{i}", on_click=act, args=(session.open, i))

    with st.expander("Classes and queue"):
        c1, c2 = st.columns(2)
        strategy = c1.selectbox(
            "What to label next",
            list(active.STRATEGIES),
            index=list(active.STRATEGIES).index(session.strategy),
            format_func=lambda s: f"{s}: {active.STRATEGIES[s]}",
            key="label_strategy",
        )
        if strategy != session.strategy:
            session.set_strategy(strategy)
            st.rerun()
        every = c2.number_input(
            "Retrain every … new labels",
            min_value=1,
            max_value=1000,
            value=session.retrain_every,
            step=5,
            key="label_every",
        )
        session.set_retrain_every(int(every))
        with st.form("label_add_class", clear_on_submit=True, border=False):
            new_name = st.text_input("Add a class", key="label_new_class")
            if st.form_submit_button("Add class") and new_name:
                act(session.add_class, new_name)
                st.rerun()
        r1, r2, r3 = st.columns([2, 2, 1], vertical_alignment="bottom")
        old = r1.selectbox("Rename or merge the class", classes, key="label_rename_old")
        new = r2.text_input("into (a new name, or an existing class to merge)", key="label_rename_new")
        if r3.button("Apply", key="label_rename_go") and new:
            with ui.guard("rename"):
                changed = session.rename_class(old, new)
                flash("info", f"'{old}' is now '{new.strip()}' ({changed} label{'s' if changed != 1 else ''} changed).")
                st.rerun()


# --- the guidelines, beside the text ------------------------------------------------------------------
def guidelines_panel(proj) -> None:
    """The project's codebook (what each class means, examples), read and edited beside the card."""
    book = guidelines.current(proj)
    title = f"Guidelines (version {book.version})" if book.version else "Guidelines (none yet)"
    with st.expander(title, expanded=bool(book.version), icon=":material/menu_book:"):
        for name in classes:
            g = book.for_class(name)
            st.markdown(f"**{html.escape(name)}**: {html.escape(g.description) or '_no description yet_'}")
            for example in g.examples[:3]:
                st.caption(f"e.g. {example}")
        if book.version:
            st.caption(f"Saved {book.saved_at} by {book.author or 'someone'}")
        with st.popover("Edit the guidelines", icon=":material/edit:"), st.form("label_guidelines", border=False):
            edit_guidelines(proj, book)


def edit_guidelines(proj, book) -> None:
    """One description and example texts per class; saving makes a new dated version (and feeds the cold start)."""
    edited = {}
    for j, name in enumerate(classes):
        g = book.for_class(name)
        desc = st.text_area(f"{name}: what it means", value=g.description, key=f"label_guide_desc_{j}")
        examples = st.text_area(
            f"{name}: example texts (one per line)", value="\n".join(g.examples), key=f"label_guide_ex_{j}"
        )
        edited[name] = {"description": desc, "examples": examples.splitlines()}
    note = st.text_input("What changed (optional)", key="label_guide_note")
    if st.form_submit_button("Save the guidelines", type="primary"):
        with ui.guard("guidelines"):
            saved = guidelines.save(proj, edited, author=me or ui.identity(), note=note)
            if session.model is None:  # the cold start reads the new descriptions
                session.prepare_cold_start(class_guides(proj))
            flash("info", f"Guidelines saved as version {saved.version}.")
            st.rerun()


def watch_background() -> None:
    """While a retrain or the cold start runs, look every POLL_SECONDS whether it ended; when it has,
    one full rerun shows the new suggestion and status without waiting for a key. The fragment draws
    nothing and runs only while there is something to wait for: a fragment redrawing the whole panel
    every 2 s swallowed key presses (seen twice in the browser test)."""
    if not session.busy():
        return

    @st.fragment(run_every=POLL_SECONDS)
    def watch():
        if not session.busy():
            st.rerun()

    watch()


# --- the model as you go ---------------------------------------------------------------------------
with side:
    if proj is not None:
        with ui.guard("guidelines"):
            guidelines_panel(proj)

    # Drawn with each label; watch_background() reruns the page once when a retrain ends.
    def model_panel():
        with ui.guard("label model"):
            status = session.status()
            icon = {"training": ":material/sync:", "failed": ":material/error:", "ready": ":material/check_circle:"}
            (st.warning if status.state == "failed" else st.info)(
                status.message, icon=icon.get(status.state, ":material/schedule:")
            )
            model = session.model
            if model is not None and model.estimate is not None:
                est = model.estimate
                st.metric(
                    "Estimated accuracy (cross-validated)",
                    f"{est.accuracy:.1%}",
                    help=f"95% interval {est.low:.1%}–{est.high:.1%} over {est.n_labels} labels, "
                    f"{est.folds}-fold. The model picks hard texts, so this tends to under-state it.",
                )
                st.caption(f"95% interval {est.low:.1%} – {est.high:.1%} · {est.n_labels} labels")
            st.markdown(active.progress_sentence(session.curve))
            if session.curve:  # before the first retrain there is nothing to plot (an empty chart only puzzles)
                st.plotly_chart(labelling_curve(session.curve), key="label_curve")
            counts = session.counts()
            if int(counts["labels"].sum()):
                st.plotly_chart(
                    class_distribution(dict(zip(counts["class"], counts["labels"])), title="Labels per class"),
                    key="label_counts",
                )

    model_panel()
    watch_background()
    if me is not None:
        st.caption(f"Labelling as **{html.escape(me)}** on a team: your labels are kept as yours.")
    n_classes = len({c for v in labels.values() for c in (active.split_cell(v) if session.multi_label else [v])})
    ready = n_classes >= 2
    if st.button(
        "Train with these labels",
        type="primary",
        icon=":material/model_training:",
        disabled=not ready,
        key="label_train",
        help=None if ready else "Label texts of at least two classes first",
    ):
        with ui.guard("label handoff"):
            # The project itself goes to Strategy: training uses its labelled rows (the rows left
            # without a label are reported as unlabelled and left out), with every label made here.
            st.switch_page(ui.PAGES["strategy"])
    where = (
        f"in project **{ds['name']}**'s change log (column `{ds.get('label_col')}`)"
        if ds.get("project")
        else f"in `{log.folder}`"
    )
    st.caption(f"Labels are saved as you make them ({len(labels):,} so far) {where}.")
