"""The Upload and Strategy pages say the language of the texts and whether the model reads them (issue 24).
The Chinese and English sentences are written for these tests."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

THINGS = ["手机", "电池", "屏幕", "服务", "酒店", "房间", "快递", "价格"]
GOOD = ["很好", "满意", "喜欢", "推荐", "不错", "舒服"]
BAD = ["很差", "失望", "讨厌", "退货", "糟糕", "太慢"]


def chinese_csv(n: int = 40) -> bytes:
    lines = ["text,label"]
    for i in range(n):
        good, bad = GOOD[i % len(GOOD)], BAD[i % len(BAD)]
        thing = THINGS[i % len(THINGS)]
        lines += [
            f"{thing}{good}，第{i}次买了，{THINGS[(i + 3) % 8]}也{GOOD[(i + 1) % 6]}。,好评",
            f"{thing}{bad}，第{i}次买了，{THINGS[(i + 5) % 8]}也{BAD[(i + 2) % 6]}。,差评",
        ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def english_csv(n: int = 30) -> bytes:
    lines = ["text,label"]
    for i in range(n):
        lines += [f'"a wonderful film, loved it ({i})",pos', f'"a dull and boring mess ({i})",neg']
    return ("\n".join(lines) + "\n").encode("utf-8")


def upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.switch_page("app_pages/upload.py").run()
    at.file_uploader(key="uploader").set_value((name, content, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [
        e.value for kind in ("info", "warning", "caption", "markdown", "error", "success") for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def test_upload_and_strategy_say_chinese_and_that_minilm_cannot_read_it(app):
    upload(app, "reviews_zh.csv", chinese_csv())
    shown = texts(app)
    assert "Language: Chinese (100% of rows)" in shown
    assert "all-MiniLM-L6-v2 cannot read these texts" in shown and "unknown to it" in shown
    assert "bert-base-chinese" in shown
    assert "words long (median 1 words" not in shown  # words come from a segmenter, not spaces
    assert any("Ready to train" in s.value for s in app.success)

    app.switch_page("app_pages/strategy.py").run()
    assert not app.exception, [e.value for e in app.exception]
    shown = texts(app)
    assert "Language: Chinese" in shown
    assert any("all-MiniLM-L6-v2 cannot read these texts" in w.value for w in app.warning)
    recommendation = next(i.value for i in app.info if "Recommended" in i.value)
    assert "TF-IDF models only" in recommendation and "Baseline (TF-IDF)" in recommendation
    assert "tokens" in shown and "counted with all-MiniLM-L6-v2's tokenizer" in shown
    plan = app.dataframe[0].value  # auto's plan: the TF-IDF models only, MiniLM and mpnet left out
    assert len(plan) and all(c.startswith("TF-IDF") for c in plan["candidate"]), plan["candidate"].tolist()


def test_english_data_reads_fine(app):
    upload(app, "reviews_en.csv", english_csv())
    shown = texts(app)
    assert "Language: Latin script (100% of rows)" in shown
    assert "all-MiniLM-L6-v2 reads these texts" in shown
    app.switch_page("app_pages/strategy.py").run()
    assert not app.exception, [e.value for e in app.exception]
    assert not any("cannot read" in w.value for w in app.warning)
    assert "Every text fits in" in texts(app)


def test_a_column_of_numbers_is_not_ready_to_train(app):
    lines = ["text,label"] + [f"{10_000 + i},{'ab'[i % 2]}" for i in range(40)]
    upload(app, "codes.csv", ("\n".join(lines) + "\n").encode("utf-8"))
    assert not any("Ready to train" in s.value for s in app.success)
    assert any("holds no words" in e.value for e in app.error)


def test_predict_page_warns_when_english_is_typed_into_a_chinese_model(app):
    import io

    import pandas as pd

    from app_ui import run_store
    from textclf_core.config import RunConfig
    from textclf_core.pipeline import runner

    frame = pd.read_csv(io.BytesIO(chinese_csv()))
    run = runner.execute(RunConfig(strategy="baseline"), frame, store=run_store())
    assert run.status()["state"] == "finished"
    app.switch_page("app_pages/predict.py").run()
    app.text_area(key="predict_text").set_value("This phone is great, I recommend it.").run()
    assert not app.exception, [e.value for e in app.exception]
    assert any(w.value.startswith("This text looks like Latin script") and "Chinese" in w.value for w in app.warning)
    app.text_area(key="predict_text").set_value("手机很好，电池也不错。").run()
    assert not any("looks like" in w.value for w in app.warning)
