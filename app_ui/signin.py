"""Who is using the app: the signed-in user (users file or OIDC), a browser identity, the sign-in form."""

from __future__ import annotations

import contextlib

import streamlit as st

from textclf_core.errors import TextclfError

from .errors import guard


# --- who is using the app ---------------------------------------------------------------------
def user() -> str | None:
    """The signed-in user when login is configured, else None (one user on localhost)."""
    from textclf_core.store import auth

    if auth.oidc_configured(secrets_auth()):
        with contextlib.suppress(Exception):
            if st.user.is_logged_in:
                return str(st.user.get("email") or st.user.get("name") or "user")
        return None
    return st.session_state.get("signed_in")


def secrets_auth():
    try:
        return dict(st.secrets.get("auth", {}))
    except Exception:  # noqa: BLE001 - no secrets file at all
        return {}


def identity() -> str:
    """Who did it: the signed-in user, else a browser identity kept in the URL (``?who=``) so it
    survives a reload. Written on jobs, runs and change-log lines."""
    signed = user()
    if signed:
        return signed
    who = st.session_state.get("who")
    if not who:
        import re
        import uuid

        wanted = str(st.query_params.get("who") or "")
        who = wanted if re.fullmatch(r"guest-[0-9a-f]{4,12}", wanted) else f"guest-{uuid.uuid4().hex[:6]}"
        st.session_state["who"] = who
    return who


def signed_in_or_open() -> bool:
    """True when no login is configured, or this session has signed in. A broken users file locks
    the app (fail closed) with its message on the sign-in page."""
    from textclf_core.store import auth

    try:
        if auth.oidc_configured(secrets_auth()):
            return bool(st.user.is_logged_in)
        return auth.users_file() is None or bool(st.session_state.get("signed_in"))
    except TextclfError:
        return False


def login_gate() -> None:
    """With login configured, nobody reaches a page without signing in (users file or OIDC)."""
    from textclf_core.store import auth

    if auth.oidc_configured(secrets_auth()):
        if not st.user.is_logged_in:
            st.title("textclf")
            st.button("Sign in", on_click=st.login, icon=":material/login:")
            st.stop()
        return
    try:
        users = auth.users_file()
    except TextclfError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    if users is None or st.session_state.get("signed_in"):
        return
    st.title("Sign in to textclf")
    with st.form("login"):
        name = st.text_input("User name", key="login_user")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", icon=":material/login:")
    if submitted:
        with guard("sign in"):
            if auth.check_password(name, password, users):
                st.session_state["signed_in"] = name.strip()
                st.rerun()
            st.error("Wrong user name or password.", icon=":material/lock:")
    st.stop()
