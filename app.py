"""textclf web app: the entry point owns navigation and the sidebar; each page is a short view.

Run with ``make run`` (or ``streamlit run app.py``).
"""

import logging

import streamlit as st

from pages import _ui

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="textclf", page_icon=":material/label:", layout="wide")

pages = {
    "Data": [
        st.Page(_ui.PAGES["upload"], title="Upload", icon=":material/upload_file:", default=True),
        st.Page(_ui.PAGES["label"], title="Label", icon=":material/keyboard:"),
        st.Page(_ui.PAGES["review"], title="Label review", icon=":material/rule:"),
        st.Page("pages/team.py", title="Team", icon=":material/group:"),
    ],
    "Train": [
        st.Page(_ui.PAGES["strategy"], title="Strategy", icon=":material/tune:"),
        st.Page(_ui.PAGES["training"], title="Training", icon=":material/monitoring:"),
    ],
    "Results": [
        st.Page(_ui.PAGES["evaluation"], title="Evaluation", icon=":material/analytics:"),
        st.Page(_ui.PAGES["compare"], title="Compare", icon=":material/compare_arrows:"),
        st.Page(_ui.PAGES["predict"], title="Predict", icon=":material/online_prediction:"),
    ],
}

# With login configured (users file or OIDC) the only page before signing in is the sign-in form.
if not _ui.signed_in_or_open():
    st.navigation([st.Page(_ui.login_gate, title="Sign in", icon=":material/login:")]).run()
    st.stop()
page = st.navigation(pages)
# Create the server-wide services once (marks runs of a dead server as interrupted).
with _ui.guard("startup"):
    _ui.job_manager()
# The project in the URL (reload, restart, shared link) and other sessions' edits, before any page reads them.
_ui.activate()
# Drawn before the page (pages may st.stop); a page that changes what it shows reruns the app.
_ui.sidebar()
page.run()
