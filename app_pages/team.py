"""Team: who labels and reviews this project, how far they agree, the consensus, the reviewer's queue,
and annotations in and out (Label Studio, Hugging Face datasets). Every action is a core call
(textclf_core.labelling.team / exchange); the page only reads and draws."""

import streamlit as st

import app_ui as ui
from textclf_core.labelling import exchange, team

st.title("Team")

ds = ui.require_dataset(labels=False)
project = ui.project()
if project is None:
    st.info("Teams work on a project: upload a file on the Upload page first.", icon=":material/group:")
    st.stop()


@st.cache_data(max_entries=8, show_spinner=False)
def agreement_of(frame, classes, separator):
    """Bootstrap intervals take a second or more: computed once per set of annotations."""
    return team.agreement(frame, classes, separator=separator)


@st.cache_data(max_entries=8, show_spinner=False)
def model_probs(texts, frame, classes):
    return team.out_of_sample_probs(texts, frame, classes)


settings = project.team()
if ui.user():
    me = ui.user()
elif settings.members:  # sign-in is off: a named guest picks their name, as on the Label page
    me = st.selectbox(
        "Act as",
        [m.name for m in settings.members],
        key="team_as",
        help="Sign-in is off: pick your name on this team. Owners edit the team; reviewers settle.",
    )
else:
    me = ui.identity()
# Before a team exists anyone may set it up (and becomes its owner); after, only owners edit it.
can_edit = not settings.members or settings.role_of(me) == "owner"
can_settle = not settings.members or me in settings.reviewers


def save_team(new_settings) -> None:
    with ui.guard("team"):
        if not any(m.role == "owner" for m in new_settings.members):
            new_settings = new_settings.with_member(me, "owner")
        project.set_team(new_settings, by=me)
        if ui.user() is not None:  # signed-in members can open the project
            project.share(*[m.name for m in new_settings.members])
        st.toast("Team saved", icon=":material/group:")


# Column names a person reads (the core's frames keep short machine names).
HEADERS = {
    "annotator_a": "annotator",
    "annotator_b": "with",
    "n": "texts",
    "agreement": "same label",
    "kappa": "Cohen's κ",
    "alpha": "Krippendorff's α",
    "low": "95% low",
    "high": "95% high",
    "class_a": "class",
    "class_b": "confused with",
    "count": "texts",
    "share": "share of disagreements",
}
# Multi-label: a pair's agreement is the Jaccard of their sets; its κ is averaged over the classes.
MULTI_HEADERS = {**HEADERS, "agreement": "classes in common (Jaccard)", "kappa": "mean κ over classes"}

# --- members and overlap ----------------------------------------------------------------------
st.subheader("Members")
if settings.members:
    st.dataframe([{"name": m.name, "role": m.role} for m in settings.members], hide_index=True)
else:
    st.caption("No team yet: labels on the Label page are one person's. Add annotators to share the texts out.")
if can_edit:
    known = sorted(
        {
            p
            for p in [
                project.meta.get("owner"),
                *(project.meta.get("shared_with") or []),
                *team.annotations(project)["annotator"].tolist(),
            ]
            if p
        }
        - {m.name for m in settings.members}
    )
    with st.form("team_member", clear_on_submit=True, border=False):
        c1, c2, c3 = st.columns([3, 2, 1], vertical_alignment="bottom")
        name = c1.text_input(
            "Name",
            key="team_name",
            placeholder=("a signed-in user's name" if ui.user() else "a guest's name")
            + (f" (seen here: {', '.join(known[:5])})" if known else ""),
        )
        role = c2.selectbox("Role", team.ROLES, index=1, key="team_role")
        if c3.form_submit_button("Add", icon=":material/person_add:") and name.strip():
            save_team(settings.with_member(name.strip(), role))
            st.rerun()
    if settings.members:
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        gone = c1.selectbox("Remove a member", [m.name for m in settings.members], key="team_remove")
        if c2.button("Remove", icon=":material/person_remove:"):
            save_team(settings.without_member(gone))
            st.rerun()

    with st.form("team_overlap", border=False):
        c1, c2 = st.columns(2)
        share = c1.slider(
            "Texts labelled by several annotators (%)",
            0,
            100,
            int(round(settings.overlap_share * 100)),
            help="These texts measure agreement; each annotator answers before seeing the others",
        )
        per_text = c2.number_input("Annotators per shared text", 2, 10, settings.per_text)
        if st.form_submit_button("Save overlap", icon=":material/save:"):
            save_team(team.TeamSettings(settings.members, share / 100, int(per_text), settings.seed))
            st.rerun()
else:
    st.caption(
        f"Overlap: {settings.overlap_share:.0%} of the texts go to {settings.per_text} annotators each. "
        "Only an owner changes the team."
    )

# --- agreement -------------------------------------------------------------------------------
frame = team.annotations(project)
space = team.label_space(project, frame)  # single- or multi-label (then cells are sets of classes)
classes, sep = space.classes, space.separator
headers = MULTI_HEADERS if space.multi_label else HEADERS
st.subheader("Agreement")
if frame["annotator"].nunique() < 2 if len(frame) else True:
    st.info("Agreement appears once two people have labelled the same texts.", icon=":material/handshake:")
else:
    with ui.guard("agreement"):
        result = agreement_of(frame, classes, sep)
        st.markdown(f"**{result.sentence}.**")
        c1, c2 = st.columns(2)
        c1.metric(
            "Krippendorff's α",
            ui.fmt(result.alpha, "f3"),
            help=f"95% interval {result.alpha_low:.2f} – {result.alpha_high:.2f}"
            if result.alpha_low == result.alpha_low
            else None,
        )
        c2.metric("Texts labelled by two or more", result.n_overlap)
        if space.multi_label:
            st.markdown(
                "Per pair of annotators: classes in common (Jaccard, mean over shared texts) and Cohen's κ on "
                "each class (given or not), averaged over the classes"
            )
        else:
            st.markdown("Cohen's κ per pair of annotators")
        st.dataframe(result.pairs.round(3).rename(columns=headers), hide_index=True)
        st.markdown(
            "Krippendorff's α per class (given or not, per annotator)"
            if space.multi_label
            else "Krippendorff's α per class (this class against the rest)"
        )
        st.dataframe(result.per_class.round(3).rename(columns=HEADERS), hide_index=True)
        if len(result.confused):
            st.markdown(
                "Classes one annotator gave and the other did not" if space.multi_label else "Classes people split on"
            )
            st.dataframe(result.confused.head(10).round(3).rename(columns=HEADERS), hide_index=True)
        if len(result.trend) > 1:
            st.plotly_chart(team.trend_figure(result.trend, multi_label=result.multi_label), key="team_trend")

# --- consensus ---------------------------------------------------------------------------------
st.subheader("Consensus")
settled = team.settlements(project)
if not len(frame):
    st.caption("Nothing labelled yet.")
else:
    if space.multi_label:
        method = "majority"
        st.caption(
            f"{team.CROWDLAB_SINGLE_ONLY}: a class is in a text's label when more than half of its annotators "
            "gave it; a class exactly half gave is left to a reviewer."
        )
    else:
        method = st.radio(
            "Method",
            ["majority", "crowdlab"],
            horizontal=True,
            key="team_method",
            format_func={"majority": "Majority vote", "crowdlab": "CROWDLAB (weighs annotators)"}.get,
        )
    with ui.guard("consensus"):
        texts = ds["df"][ds["text_col"]].astype(str).tolist()
        probs = None
        if method == "crowdlab":
            with st.spinner("Cross-validating a TF-IDF model on the annotations…"):
                probs = model_probs(texts, frame, classes)
        cons = team.consensus(frame, classes, probs, method=method, settled=settled, separator=sep)
        cons.insert(1, "text", [texts[r] for r in cons["row"]])
        st.dataframe(cons.round(3), hide_index=True, height=240)
        st.markdown("Annotators' estimated quality")
        quality = team.annotator_quality(frame, classes, probs, separator=sep)
        st.dataframe(quality.round(3), hide_index=True)
        st.caption(
            "A run learns these labels when its label source is the consensus (here, or `textclf train "
            "--label-source consensus`): "
            + (
                "the per-class majority, texts with a tie left out until a reviewer settles them; "
                if space.multi_label
                else "majority until two people share 10 texts, CROWDLAB after; "
            )
            + "a reviewer's decision wins; texts nobody annotated keep the label column's label; the "
            "run's name ends with “consensus labels”."
        )
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    strategy = c1.selectbox(
        "Train on the consensus with",
        ["baseline", "auto"],
        key="team_strategy",
        format_func={"baseline": "TF-IDF baseline (seconds)", "auto": "Auto (the default time budget)"}.get,
    )
    if c2.button("Train on the consensus", icon=":material/model_training:"):
        with ui.guard("train on the consensus"):
            from textclf_core.config import RunConfig

            config = RunConfig(
                strategy=strategy,
                text_col=ds["text_col"],
                label_col=ds.get("label_col") or "label",
                label_source="consensus",
                data_path=str(ds.get("filename") or ds["name"]),
            )
            job_id = ui.job_manager().submit(config, ui.working_frame(), **ui.job_details())
            ui.remember_job(job_id)
            st.session_state["team_training_job"] = job_id
    if st.session_state.get("team_training_job"):
        st.success("Training on the consensus is queued; follow it on the Training page.", icon=":material/queue:")
        st.page_link(ui.PAGES["training"], label="Go to Training", icon=":material/monitoring:")

# --- the reviewer's queue ----------------------------------------------------------------------
st.subheader("Disagreements")
queue = team.disagreements(frame, settled, separator=sep) if len(frame) else []
if not queue:
    st.caption("No open disagreement." + (f" {len(settled)} settled." if settled else ""))
else:
    st.caption(
        f"{len(queue)} text{'s' if len(queue) != 1 else ''} to settle"
        + (f"; {len(settled)} settled" if settled else "")
    )
    row = queue[0]
    here = frame[frame["row"] == row]
    st.markdown(f"> {ds['df'][ds['text_col']].astype(str).iloc[row]}")
    st.caption(" · ".join(f"{a}: {lab}" for a, lab in zip(here["annotator"], here["label"])))
    if can_settle and space.multi_label:  # a set of classes: pick them, then settle
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        chosen = c1.multiselect("Classes of this text", classes, key=f"team_settle_classes_{row}")

        def settle_set(r=row):
            picked = st.session_state.get(f"team_settle_classes_{r}") or []
            with ui.guard("settle"):
                team.settle(project, r, sep.join(c for c in classes if c in picked), me)

        c2.button("Settle", icon=":material/gavel:", key="team_settle_multi", on_click=settle_set, disabled=not chosen)
    elif can_settle:

        def settle(r=row, label=None):
            with ui.guard("settle"):
                team.settle(project, r, label, me)

        cols = st.columns(min(len(classes), 5) or 1)
        for j, name in enumerate(classes):
            cols[j % len(cols)].button(
                f"{(j + 1) % 10}  {name}",
                key=f"team_settle_{j}",
                on_click=settle,
                kwargs={"label": name},
                width="stretch",
            )
        try:
            from streamlit_shortcuts import add_shortcuts

            add_shortcuts(**{f"team_settle_{j}": str((j + 1) % 10) for j in range(min(len(classes), 10))})
        except Exception:  # noqa: BLE001 - keys are a convenience; the buttons work without them
            pass
    else:
        st.caption("Only a reviewer or an owner settles disagreements.")

# --- exchange ----------------------------------------------------------------------------------
st.subheader("Export and import")
EXPORTS = (  # (button, bytes of the project's annotations, file name ending, mime type)
    ("Label Studio JSON", exchange.label_studio_bytes, "label-studio.json", "application/json"),
    ("JSONL (datasets)", exchange.jsonl_bytes, "annotations.jsonl", "application/jsonl"),
    ("Parquet (datasets)", exchange.parquet_bytes, "annotations.parquet", "application/octet-stream"),
)
with ui.guard("export"):
    if len(frame):
        for column, (label, make, ending, mime) in zip(st.columns(len(EXPORTS)), EXPORTS):
            ui.download_button(
                label,
                lambda make=make: make(project),
                where=column,
                file_name=f"{project.id}-{ending}",
                mime=mime,
            )
upload = st.file_uploader(
    "Import annotations (Label Studio JSON, JSONL or Parquet)", type=["json", "jsonl", "parquet"], key="team_import"
)
if upload is not None and st.button("Import", icon=":material/upload:"):
    with ui.guard("import"):
        data = upload.getvalue()
        read = (
            exchange.read_label_studio(data)
            if upload.name.endswith(".json")
            else exchange.read_flat(data, "parquet" if upload.name.endswith(".parquet") else "jsonl")
        )
        counts = exchange.import_annotations(project, read)
        st.success(
            f"Imported {counts['added']} annotations and {counts['settled']} decisions"
            + (f"; {counts['skipped']} were on texts not in this project" if counts["skipped"] else ""),
            icon=":material/check:",
        )
