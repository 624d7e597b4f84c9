"""textclf web app: the entry point owns navigation and the sidebar; each page is a short view.

Run with ``make run`` (or ``streamlit run app.py``).
"""

import logging

import streamlit as st

import app_ui as ui

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="textclf", page_icon=":material/label:", layout="wide")

pages = {
    "Data": [
        st.Page(ui.PAGES["upload"], title="Upload", icon=":material/upload_file:", default=True),
        st.Page(ui.PAGES["label"], title="Label", icon=":material/keyboard:"),
        st.Page(ui.PAGES["review"], title="Label review", icon=":material/rule:"),
        st.Page(ui.PAGES["team"], title="Team", icon=":material/group:"),
    ],
    "Train": [
        st.Page(ui.PAGES["strategy"], title="Strategy", icon=":material/tune:"),
        st.Page(ui.PAGES["training"], title="Training", icon=":material/monitoring:"),
    ],
    "Results": [
        st.Page(ui.PAGES["evaluation"], title="Evaluation", icon=":material/analytics:"),
        st.Page(ui.PAGES["compare"], title="Compare", icon=":material/compare_arrows:"),
        st.Page(ui.PAGES["predict"], title="Predict", icon=":material/online_prediction:"),
    ],
}

# With login configured (users file or OIDC), whatever page the URL names, the sign-in form is all that runs
# before signing in: the page is resolved (so a deep link is not "not found") but never run, and after
# signing in the same URL shows it.
signed_in = ui.signed_in_or_open()
page = st.navigation(pages, position="sidebar" if signed_in else "hidden")
if not signed_in:
    ui.login_gate()
    st.stop()
# Create the server-wide services once (marks runs of a dead server as interrupted).
with ui.guard("startup"):
    ui.warm_imports()
    ui.job_manager()
# The project in the URL (reload, restart, shared link) and other sessions' edits, before any page reads them.
ui.activate()
# Drawn before the page (pages may st.stop); a page that changes what it shows reruns the app.
ui.sidebar()
page.run()
