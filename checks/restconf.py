"""The one generator of XPU Manager 1.x ``rest.conf`` (``/usr/lib/xpum/rest/conf/rest.conf``).

Upstream ``rest_config.py`` asks for the password interactively; this writes the same file
non-interactively with the same hash, so the host role, the container role (through a filter
plugin) and the tests share one implementation:

    [default]
    username = xpumadmin
    salt = <12 alphanumerics>
    password = <hashlib.pbkdf2_hmac('sha512', pw, salt, 10000).hex()>

Upstream encodes password and salt as ASCII (``password.encode('ASCII')``): a non-ASCII password
could never log in, so it is refused here. Nothing in this module logs or echoes a password.
Standard library only.
"""

from __future__ import annotations

import configparser
import hashlib
import hmac
import secrets
import string

SALT_ALPHABET = string.ascii_letters + string.digits
SALT_LENGTH = 12
ITERATIONS = 10000
DEFAULT_USERNAME = "xpumadmin"


def _ascii(value: str, what: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string")
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        # never include the value itself: it may be the password
        raise ValueError(f"{what} must be ASCII (XPU Manager encodes it as ASCII)") from None


def make_salt() -> str:
    return "".join(secrets.choice(SALT_ALPHABET) for _ in range(SALT_LENGTH))


def hash_password(password: str, salt: str) -> str:
    """Upstream's hash: ``pbkdf2_hmac('sha512', password, salt, 10000).hex()`` (ASCII)."""
    return hashlib.pbkdf2_hmac("sha512", _ascii(password, "password"), _ascii(salt, "salt"), ITERATIONS).hex()


def _check_line_value(value: str, what: str):
    if not value or any(c in value for c in "\r\n") or value != value.strip():
        raise ValueError(f"{what} must be non-empty, one line, without surrounding spaces")


def make_rest_conf(password: str, username: str = DEFAULT_USERNAME, salt: str | None = None) -> str:
    """Text of a rest.conf that lets ``username``/``password`` log in to xpum_rest."""
    if not password:
        raise ValueError("password must not be empty")
    _ascii(password, "password")
    _check_line_value(username, "username")
    _ascii(username, "username")
    if salt is None:
        salt = make_salt()
    _check_line_value(salt, "salt")
    if "%" in salt or "%" in username:  # configparser interpolation would change them on reading
        raise ValueError("username and salt must not contain '%'")
    return f"[default]\nusername = {username}\nsalt = {salt}\npassword = {hash_password(password, salt)}\n"


def parse_rest_conf(conf_text: str) -> dict:
    """{"username", "salt", "password_hash", "disable_auth"} read the way xpum_rest reads it.

    Raises ValueError when the text is not a usable rest.conf."""
    config = configparser.ConfigParser()
    try:
        config.read_string(conf_text)
        sect = config["default"]
        out = {"username": sect["username"], "salt": sect["salt"], "password_hash": sect["password"]}
        disable = sect.get("disableAuth")
    except (configparser.Error, KeyError) as e:
        raise ValueError(f"not a usable rest.conf: {type(e).__name__}") from None
    out["disable_auth"] = bool(disable) and disable.upper() == "TRUE"
    return out


def check_password(conf_text: str, username: str, password: str) -> bool:
    """Would xpum_rest with this rest.conf accept ``username``/``password``?

    True also when the conf has ``disableAuth = true`` (upstream then accepts anything).
    False for an unusable conf or a non-ASCII password (upstream could not accept it)."""
    try:
        conf = parse_rest_conf(conf_text)
    except ValueError:
        return False
    if conf["disable_auth"]:
        return True
    try:
        candidate = hash_password(password, conf["salt"])
    except (ValueError, TypeError):
        return False
    same_user = hmac.compare_digest(str(username).encode("utf-8"), conf["username"].encode("utf-8"))
    return same_user and hmac.compare_digest(candidate, conf["password_hash"])
