"""Optional sign-in for a shared server.

Two ways, both off by default (no configuration: one user on localhost, as before):

- a users file (``$TEXTCLF_USERS_FILE``, else ``$TEXTCLF_HOME/users.json`` when it exists) holding
  bcrypt password hashes, never passwords: ``{"users": {"ann": {"hash": "$2b$12$..."}}}``;
  ``textclf users add NAME`` writes one;
- Streamlit's OIDC login (``st.login``), configured by an ``[auth]`` block in
  ``.streamlit/secrets.toml``; the app reads it, this module only says whether it is there.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from textclf_core.errors import TextclfError

from .runs import atomic_write_json

USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


def users_file() -> Path | None:
    """The users file in force, or None when login by users file is off."""
    explicit = os.environ.get("TEXTCLF_USERS_FILE")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise TextclfError(
                f"TEXTCLF_USERS_FILE points to {path}, which does not exist",
                hint="Create it with `textclf users add NAME`, or unset TEXTCLF_USERS_FILE",
            )
        return path
    home = os.environ.get("TEXTCLF_HOME")
    path = Path(home).expanduser() / "users.json" if home else None
    return path if path is not None and path.is_file() else None


def default_users_path() -> Path:
    explicit = os.environ.get("TEXTCLF_USERS_FILE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("TEXTCLF_HOME")
    return (Path(home).expanduser() if home else Path(".")) / "users.json"


def oidc_configured(auth_section: dict | None) -> bool:
    """True when secrets.toml has an [auth] block Streamlit's st.login can use."""
    section = auth_section or {}
    return bool(section.get("redirect_uri") and section.get("cookie_secret"))


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"users": {}}
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TextclfError(
            f"The users file cannot be read ({exc})",
            where=str(path),
            hint="Fix the JSON or recreate it with `textclf users add NAME`",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("users", {}), dict):
        raise TextclfError('The users file is not {"users": {...}}', where=str(path))
    data.setdefault("users", {})
    return data


def add_user(name: str, password: str, path: str | Path | None = None) -> Path:
    """Add or change a user; stores a bcrypt hash (cost 12), never the password."""
    import bcrypt

    name = str(name or "").strip()
    if not USER_RE.match(name):
        raise TextclfError(f"'{name}' is not a valid user name", hint="Use letters, digits, '.', '_', '-' or '@'")
    if len(password or "") < 8:
        raise TextclfError("A password needs at least 8 characters")
    if len(password.encode("utf-8")) > 72:
        raise TextclfError("A password can have at most 72 bytes (bcrypt's limit)")
    path = Path(path) if path is not None else default_users_path()
    data = _read(path)
    data["users"][name] = {"hash": bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(12)).decode("ascii")}
    atomic_write_json(path, data)
    os.chmod(path, 0o600)
    return path


def check_password(name: str, password: str, path: str | Path) -> bool:
    """True when ``name`` is in the users file and ``password`` matches its hash."""
    import bcrypt

    entry = _read(Path(path))["users"].get(str(name or "").strip())
    hashed = (entry or {}).get("hash") if isinstance(entry, dict) else None
    if not hashed or not password:
        return False
    try:
        return bcrypt.checkpw(password.encode("utf-8")[:72], str(hashed).encode("ascii"))
    except ValueError:  # a damaged hash
        return False
