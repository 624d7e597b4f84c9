"""The REST API (FastAPI): textclf serve.

Modules:

- :mod:`.server`: `textclf serve`: `create_app(served, *, api_key=None, max_texts=256, max_body_bytes=1e6, max_batch=64, max_wait_ms=5) -> FastAPI` (`POST /v1/predict` `{"texts": [...]}` -> `{"predictions": [{"label", "confidence", "probabilities"}]}` in order, multi-label `label` a list with the per-class thresholds; `GET /v1/health` (batching stats), `GET /v1/model` (classes, run, strategy, test scores, limits); `/docs`; bad input -> 4xx `{"detail": one line}`; `X-API-Key` compared with `hmac.compare_digest`); `DynamicBatcher` (one worker thread: concurrent requests scored in one `predict_proba` call); `open_model(run id / run folder / model folder / zip) -> ServedModel` (through `predict.load_predictor`); `predictions_from_proba(predictor, proba)` (labels by the predictor's own `frame_from_proba`); `serve(source, host=, port=, api_key=, threads=)`; `check_binding` (non-loopback needs a key); `serve_command`, `curl_example`, `example_text` (Predict page). FastAPI/uvicorn imported only inside `create_app`/`serve`
"""
