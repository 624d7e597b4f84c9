"""Strategy: pick the model and how to train it; the recommended settings are filled in with the reason.

Auto (recommended, first): a time budget and the plan before it starts (candidates, order, estimated time
each; how long texts are read). The plan is textclf_core.strategies.auto's, the same the run follows.
"""

import numpy as np
import pandas as pd
import streamlit as st

import app_ui as ui
from textclf_core import hardware
from textclf_core.config import (
    BASELINE_MODELS,
    DEFAULT_MODEL,
    HEADS,
    LOSSES,
    OPTIMIZERS,
    POOLINGS,
    SCHEDULERS,
    RunConfig,
)
from textclf_core.engine.static import is_static
from textclf_core.pipeline import tracking
from textclf_core.pipeline.jobs import format_duration
from textclf_core.store.catalog import CATALOG
from textclf_core.strategies import auto
from textclf_core.strategies.advice import (
    describe_strategy,
    estimate,
    recommend,
    recommend_single,
    size_advice,
    switch_strategy,
)
from textclf_core.strategy_registry import get_strategy, strategies


def _run_elsewhere_zip(config) -> bytes:
    """Settings + working data + accelerate launch script (built only when the button is clicked)."""
    from pathlib import Path

    from textclf_core.pipeline.launch import launch_bundle

    name = Path(str(config.data_path or "data")).stem + ".csv"
    data = ui.working_frame().to_csv(index=False).encode("utf-8")
    gpus = hardware.gpu_count()  # from the driver: no torch import on this page
    return launch_bundle(config, data_bytes=data, data_name=name, num_processes=max(gpus, 2))


TRADE_OFFS = {
    "auto": "Trade-off: takes the whole budget (or less when every candidate is done); the model can be several "
    "models averaged, so it is larger and slower to predict than one.",
    "baseline": "Trade-off: no understanding of word meaning or context, but nothing is faster.",
    "feature-extraction": "Trade-off: fastest transformer option, but the model never adapts to your texts.",
    "partial": "Trade-off: most of full fine-tuning's accuracy for a fraction of the time; a little less accurate.",
    "full": "Trade-off: best accuracy with enough data, but slowest and needs the most memory.",
    "lora": "Trade-off: small checkpoints and low memory; on a CPU not much faster than full fine-tuning.",
    "fewshot": "Trade-off: helps most when a class has only a handful of examples; takes minutes where feature "
    "extraction takes seconds, and one label per text only.",
}
OTHER = "Other (hub id or local folder)…"


def show_fit(fit) -> None:
    """The model-fit sentence: a warning when the model cannot read the texts."""
    if fit.reads is False:
        st.warning(fit.sentence, icon=":material/translate:")
    elif fit.sentence:
        st.caption(fit.sentence)


def plan_stats(config, report, hw):
    """auto.data_stats of the rows the run will train on (as the split will be sized)."""
    texts = ui.working_frame()[config.text_col].astype(str).tolist() if config.text_col else []
    n = report.n_labelled
    n_train = int(n * (1 - config.val_size - config.test_size))
    return auto.data_stats(
        texts[:n_train] if len(texts) > n_train else texts,
        int(n * config.val_size),
        int(n * config.test_size),
        report.class_counts,
        bool(report.multi_label),
        hw,
    )


def show_plan(config, report, hw) -> None:
    """Auto's plan before it starts: candidates in order, estimated time each, how long texts are read."""
    st.subheader("Plan")
    stats = plan_stats(config, report, hw)
    members = auto.plan(config, stats, hw)
    budget = config.budget_seconds(auto.default_budget(hw))
    st.dataframe(
        pd.DataFrame(auto.plan_rows(members, budget)).drop(columns="order"),  # the rows are in order already
        hide_index=True,
        width="stretch",
        column_config={  # the plan sits in a narrow column: the last one ("fits the budget") must stay in view
            "candidate": st.column_config.TextColumn(width="medium"),
            "estimated time": st.column_config.TextColumn("time", width="small"),
            "fits the budget": st.column_config.TextColumn("fits", help="Within the budget, after the ones before it"),
        },
    )
    st.caption(
        f"Budget: {auto.format_seconds(budget)} on {hw.describe()}. Cheapest first; estimates come from this "
        "machine's measured speeds and are corrected by the members that ran before; a candidate that no longer "
        "fits trains on a sample that fits, or is skipped (the leaderboard says why), and one that would overrun "
        "stops at its best checkpoint. Time left goes to extra rounds while validation improves. The ensemble is "
        "chosen on the validation rows only; the test rows are scored once, at the end."
    )
    if any(m.family == "transformer" for m in members):  # how long texts are read matters to encoders only
        st.caption(auto.describe_windows(stats, hw))


st.title("Strategy")
ds = ui.require_dataset()

config = None  # stays None when the guarded block below fails (its error is shown; nothing starts)
with ui.guard("strategy"):
    report = ui.report()
    if report.blocking:
        st.error("Fix these problems on the Upload or Label review page first:", icon=":material/block:")
        for line in report.blocking:
            st.error(line)
        st.stop()
    hw = ui.hardware()
    # The language, and whether the default model reads it; lengths in that model's own tokens.
    profile = report.language_profile
    if profile is not None:
        st.caption(profile.sentence())
    default_fit = ui.model_fit(DEFAULT_MODEL)
    show_fit(default_fit)
    median_tokens = default_fit.median_tokens or (report.token_lengths or {}).get("median")
    unreadable = {DEFAULT_MODEL: default_fit.reason} if default_fit.reads is False else None
    advice = dict(
        median_tokens=median_tokens,
        n_rows=report.n_labelled,
        hardware=hw,
        multi_label=report.multi_label,
        unreadable=unreadable,
    )
    # The recommendation (auto, for every dataset) ends with the advice for one strategy; the widgets of another
    # strategy start from that advice.
    recommended, reason = recommend(report.class_counts, **advice)
    single, _ = recommend_single(report.class_counts, **advice)
    first, _, rest = reason.partition(" If you want one strategy: ")
    st.info(
        f"**Recommended: {get_strategy(recommended.strategy).title.split(' (')[0]}**: {first}"
        + (f"\n\nIf you want one strategy: {rest}" if rest else ""),
        icon=":material/recommend:",
    )

    # Widget keys carry the dataset version, so a new dataset starts from its own recommendation.
    v = f"{ds['version']}_{st.session_state.get('strategy_reset', 0)}"
    if st.button("Reset to the recommended settings", icon=":material/restart_alt:"):
        st.session_state["strategy_reset"] = st.session_state.get("strategy_reset", 0) + 1
        st.rerun()
    # The registry's strategies that train this data (few-shot: one label per text), the recommended one first.
    offered = [s.name for s in strategies(multi_label=bool(report.multi_label))]
    offered.sort(key=lambda name: name != recommended.strategy)

    left, right = st.columns([3, 2], gap="large")
    with left:
        strategy = st.radio(
            "How to train",
            offered,
            index=0,
            key=f"strategy_{v}",
            format_func=lambda s: get_strategy(s).title,
            horizontal=True,
        )
        spec = get_strategy(strategy)
        # Another strategy than the recommended one starts from the single-strategy advice, or from its own
        # defaults (e.g. 2 epochs for full fine-tuning); those widgets are keyed by strategy so switching fills them in.
        if strategy == recommended.strategy:
            r = recommended
        elif strategy == single.strategy:
            r = single
        else:
            r = switch_strategy(single, strategy)
        sv = f"{v}_{strategy}"
        st.write(describe_strategy(strategy))
        st.caption(TRADE_OFFS.get(strategy, ""))
        settings: dict = {}
        if spec.budgeted:
            choices = list(auto.BUDGET_CHOICES)
            default = next((k for k, s in auto.BUDGET_CHOICES.items() if s == r.budget_s), "10 min")
            budget_name = st.radio(
                "Time budget",
                choices,
                index=choices.index(default),
                key=f"budget_{v}",
                horizontal=True,
                help=f"The whole run ends within this time (plus at most 10%). The default suits {hw.describe()}.",
            )
            settings["budget_s"] = auto.BUDGET_CHOICES[budget_name]
            # Like AutoGluon's included_model_types: leave out candidates you do not want (e.g. the slow ones).
            everyone = {
                m.key: m.label
                for m in auto.plan(
                    r.replace(text_col=ds["text_col"]), plan_stats(r.replace(text_col=ds["text_col"]), report, hw), hw
                )
            }
            picked = st.multiselect(
                "Candidates",
                list(everyone),
                default=list(everyone),
                format_func=everyone.get,
                key=f"members_{v}",
                help="Auto tries these, cheapest first, on the same split. "
                "TF-IDF is the bar every other candidate must beat.",
            )
            if not picked:
                st.warning("Pick at least one candidate to continue.")
            elif set(picked) != set(everyone) or r.auto_members:
                # the recommendation may already leave candidates out (a model that cannot read the texts)
                settings["auto_members"] = list(picked)
        elif not spec.uses_model:
            settings["baseline_model"] = st.selectbox(
                "Linear classifier",
                BASELINE_MODELS,
                key=f"bm_{v}",
                format_func=lambda m: {"logreg": "logistic regression", "nb": "naive Bayes", "svm": "linear SVM"}.get(
                    m, m
                ),
            )
        else:
            # a static table has no encoder to tune: it is a choice for feature extraction only
            keys = [m.key for m in CATALOG if spec.frozen_encoder or not is_static(m.key)]
            default_model = r.model if r.model in keys else keys[0]
            choice = st.selectbox(
                "Model",
                keys + [OTHER],
                index=keys.index(default_model),
                key=f"model_{v}",
                format_func=lambda k: (
                    k
                    if k == OTHER
                    else next(
                        f"{m.key} · {m.params_m:g}M · {m.speed}{' · bundled' if m.bundled else ''}"
                        for m in CATALOG
                        if m.key == k
                    )
                ),
            )
            if choice == OTHER:
                settings["model"] = st.text_input(
                    "Hub id or local folder",
                    key=f"model_other_{v}",
                    placeholder="e.g. bert-base-cased or /data/models/my-bert",
                ).strip()
                if not settings["model"]:
                    st.warning("Type a model id or folder to continue.")
            else:
                settings["model"] = choice
                st.caption(next(m.note for m in CATALOG if m.key == choice))
            if settings["model"] and settings["model"] != DEFAULT_MODEL:
                show_fit(ui.model_fit(settings["model"]))
            if spec.trains == "top_layers":
                settings["layers"] = st.slider("Top layers to train", 1, 12, r.layers, key=f"layers_{v}")
            elif spec.trains == "adapters":
                c1, c2 = st.columns(2)
                settings["lora_r"] = c1.number_input("LoRA rank", 1, 256, r.lora_r, key=f"lora_r_{v}")
                settings["lora_alpha"] = c2.number_input("LoRA alpha", 1, 512, r.lora_alpha, key=f"lora_a_{v}")
            elif spec.frozen_encoder:
                c1, c2 = st.columns(2)
                settings["head"] = c1.selectbox("Classifier on the embeddings", HEADS, key=f"head_{v}")
                settings["pooling"] = c2.selectbox("Pooling", POOLINGS, key=f"pool_{v}")
            elif spec.trains == "pairs":
                settings["fewshot_max_pairs"] = st.number_input(
                    "Contrastive pairs (at most)",
                    2,
                    100_000,
                    r.fewshot_max_pairs,
                    step=100,
                    key=f"pairs_{v}",
                    help="Pairs of your labelled texts (same class or not) the encoder is tuned on; 20 per text "
                    "up to this cap. More pairs take longer.",
                )

        # Opt-in like the Hugging Face Trainer's report_to: on by default only when the server sets
        # MLFLOW_TRACKING_URI (tracking.py owns the rule and the default store).
        where = tracking.where_logged()
        settings["track"] = tracking.track_setting(
            st.toggle(
                "Track in MLflow",
                value=tracking.tracked_by_default(),
                key=f"track_{v}",
                help=f"Logs this run to MLflow at {where}: its settings, the validation scores at each evaluation, the "
                "test scores, the confusion matrix"
                + (" and the leaderboard" if spec.budgeted else "")
                + ", and the model folder. "
                + (
                    "MLFLOW_TRACKING_URI is set on this server, so runs are tracked unless you turn this off."
                    if tracking.tracked_by_default()
                    else f"To browse them: mlflow ui --backend-store-uri {where}"
                ),
            )
        )

        with st.expander("Advanced settings"):
            a1, a2, a3 = st.columns(3)
            settings["epochs"] = a1.number_input("Epochs", 1, 100, r.epochs, key=f"epochs_{sv}")
            settings["batch_size"] = a2.number_input("Batch size", 1, 1024, r.batch_size, key=f"bs_{sv}")
            settings["seed"] = a3.number_input("Seed", 0, 2**31 - 1, r.seed, key=f"seed_{v}")
            settings["lr"] = a1.number_input("Learning rate", 1e-7, 1.0, float(r.lr), format="%.1e", key=f"lr_{sv}")
            head_lr = a2.number_input(
                "Head learning rate (0 = automatic)", 0.0, 1.0, 0.0, format="%.1e", key=f"hlr_{v}"
            )
            settings["head_lr"] = head_lr or None
            settings["max_length"] = a3.number_input(
                "Max length (tokens)", 8, 1024, r.max_length, step=16, key=f"maxlen_{sv}"
            )
            chosen = settings.get("model") if spec.uses_model and not spec.budgeted else None
            a3.caption((ui.model_fit(chosen) if chosen else default_fit).truncation_sentence(settings["max_length"]))
            settings["loss"] = a1.selectbox(
                "Loss",
                LOSSES,
                index=LOSSES.index(r.loss),
                key=f"loss_{v}",
                help="ce: cross-entropy; weighted: rarer classes count more; "
                "focal: focus on hard examples; bce: multi-label",
            )
            settings["class_weights"] = a2.checkbox("Weight classes by rarity", r.class_weights, key=f"cw_{v}")
            settings["optimizer"] = a3.selectbox("Optimizer", OPTIMIZERS, key=f"opt_{v}")
            settings["scheduler"] = a1.selectbox("Learning-rate schedule", SCHEDULERS, key=f"sched_{v}")
            patience = a2.number_input(
                "Early stopping patience (0 = off)", 0, 20, r.early_stopping_patience or 0, key=f"pat_{v}"
            )
            settings["early_stopping_patience"] = patience or None
            settings["evals_per_epoch"] = a3.number_input(
                "Evaluations per epoch", 1, 20, r.evals_per_epoch, key=f"epe_{v}"
            )
            settings["val_size"] = a1.slider("Validation share", 0.05, 0.4, float(r.val_size), 0.05, key=f"val_{v}")
            settings["test_size"] = a2.slider("Test share", 0.05, 0.4, float(r.test_size), 0.05, key=f"test_{v}")
            name = a3.text_input("Run name (optional)", key=f"name_{v}")
            settings["name"] = name.strip() or None
            settings["augment"] = a1.selectbox(
                "Augment scarce classes",
                ("off", "eda", "mlm"),
                key=f"aug_{v}",
                format_func={
                    "off": "off",
                    "eda": "word deletion + swap",
                    "mlm": "model's own paraphrases (masked-LM)",
                }.get,
                help="Adds 2 altered copies of each training text of classes with fewer than 64 training rows "
                "(never to validation or test). Off by default: on the movie reviews with 64 examples per "
                "class it did not help (word deletion + swap: -1.3 points on average over 10 draws). "
                "Paraphrases need a model with a masked-LM head (the bundled MiniLM has none).",
            )

    config = None
    with right:
        with ui.guard("settings"):
            if spec.uses_model and not spec.budgeted and not settings.get("model") or spec.budgeted and not picked:
                st.stop()
            config = RunConfig(
                strategy=strategy,
                text_col=ds["text_col"],
                label_col=ds["label_col"],
                split_col=ds.get("split_col"),
                data_path=str(ds["name"]),
                multi_label=report.multi_label or None,
                **{
                    k: (int(val) if isinstance(val, (int, np.integer)) and not isinstance(val, bool) else val)
                    for k, val in settings.items()
                },
            )
            n_train = int(report.n_labelled * (1 - config.val_size - config.test_size))
            if spec.budgeted:
                show_plan(config, report, hw)  # its own heading: an "Estimate" above it stood empty
            else:
                st.subheader("Estimate")
                # sizing: the whole run's time from the row count and measured speeds, and the ways out when
                # that is hours (a stratified sample, a GPU elsewhere)
                sized = size_advice(config, report.n_labelled, median_tokens, hw)
                if not spec.uses_model:
                    memory = "under 1 GB" if sized.n_rows < 100_000 else "about 1-2 GB (hashed features in chunks)"
                    took = "a few seconds" if sized.seconds < 60 else f"about {format_duration(sized.seconds)}"
                    st.write(f"{n_train:,} training rows · {took} on {hw.describe()} · {memory} of memory.")
                else:
                    est = estimate(config, n_train, hw, avg_tokens=float(median_tokens or 48))
                    e1, e2 = st.columns(2)
                    e1.metric("Time", format_duration(sized.seconds))
                    e2.metric("Memory", f"{est.memory_gb:.1f} GB")
                    st.caption(
                        f"{n_train:,} training rows · {est.params / 1e6:.1f}M parameters, "
                        f"{est.trainable / 1e6:.2f}M trained · on {hw.describe()}. Time from measured speeds "
                        f"of this strategy on 2 CPU cores, scaled by rows and text length."
                    )
                if sized.hours:
                    st.warning(sized.message, icon=":material/hourglass_top:")
                elif sized.message:
                    st.caption(sized.message)
                if sized.sample_rows:
                    if st.toggle(
                        f"Train on a sample of {sized.sample_rows:,} rows",
                        key=f"sample_{sv}",
                        help="A stratified random sample of the labelled rows (every class keeps its "
                        "share), drawn before the split, so training, validation and test all "
                        f"shrink: about {format_duration(sized.sample_seconds)} here.",
                    ):
                        config = config.replace(sample_rows=int(sized.sample_rows))
                        st.caption(
                            f"This run trains on {sized.sample_rows:,} of your {report.n_labelled:,} "
                            "labelled rows; the rest are left out (shown as excluded in the split)."
                        )

if config is not None:
    with ui.guard("start"):
        manager = ui.job_manager()
        busy = len(manager.active())
        b1, b2, b3 = st.columns(3)
        start = b1.button(
            "Start training",
            type="primary",
            icon=":material/play_arrow:",
            width="stretch",
            help="Starts now, or after the runs already queued",
        )
        queue = b2.button(
            "Add to queue", icon=":material/queue:", width="stretch", help="Queue this run and keep choosing more"
        )
        if not spec.supports_distributed:  # nothing to share between GPUs: the settings are what travels
            ui.download_button(
                "Download these settings",
                config.to_json(),
                where=b3,
                file_name="config.json",
                mime="application/json",
                width="stretch",
                help="To train on another machine: textclf train --config config.json --data <your file>",
            )
        else:
            ui.download_button(
                "Run elsewhere",
                lambda: _run_elsewhere_zip(config),
                where=b3,
                file_name="textclf-run.zip",
                mime="application/zip",
                width="stretch",
                help="A zip with these settings, your data (with review edits) and the commands "
                "to train on several GPUs or machines (accelerate launch); see README.txt inside",
            )
        if busy:
            st.caption(f"{busy} run{'s' if busy != 1 else ''} already running or queued on this server.")
        if start or queue:
            job_id = manager.submit(config, ui.working_frame(), **ui.job_details())
            ui.remember_job(job_id)
            st.session_state["training_job"] = job_id
            if start:
                st.switch_page(ui.PAGES["training"])
            st.toast(f"Queued: {config.display_name()}", icon=":material/queue:")
