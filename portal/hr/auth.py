"""HR login and logout, and the session rules every back-office request passes (R10, R11)."""

import hashlib
import hmac
from datetime import UTC, datetime
from functools import cache

from flask import current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from portal.errors import retry_on_expired_form
from portal.extensions import db, login_manager
from portal.hr.blueprint import bp
from portal.hr.forms import LoginForm
from portal.models import User
from portal.services.staff import end_all_sessions, find_user_by_email, record_login
from portal.throttle import GrowingDelay, count_failure, is_exhausted
from portal.web import htmx_request, safe_next


@cache
def _dummy_user() -> User:
    """A password hash that costs the same to check as a real one: unknown emails take as long as wrong passwords."""
    user = User(password_hash="")
    user.set_password("not-a-password")
    return user


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Load the user only if the cookie's session epoch is still current (logout or disable revokes it)."""
    try:
        pk, epoch = (int(part) for part in user_id.split(":"))
    except ValueError:
        return None
    user = db.session.get(User, pk)
    if user is None or not user.active or user.session_epoch != epoch:
        return None
    return user


def _now_ts() -> float:
    return datetime.now(UTC).timestamp()


@bp.before_request
def enforce_session_rules():
    """Idle and absolute timeouts, checked on the server for every back-office request."""
    if request.endpoint in ("hr.login", "hr.logout") or not current_user.is_authenticated:
        return None
    now = _now_ts()
    idle = current_app.config["HR_IDLE_TIMEOUT"].total_seconds()
    absolute = current_app.config["HR_ABSOLUTE_TIMEOUT"].total_seconds()
    if now - session.get("login_at", 0) > absolute or now - session.get("seen_at", 0) > idle:
        logout_user()
        session.clear()
        flash(_("Your session has expired. Please log in again."))
        return to_login()
    session["seen_at"] = now
    return None


@login_manager.unauthorized_handler
def to_login() -> Response:
    """To the login page, and back here afterwards. htmx is told to load it as a page (HX-Redirect):
    following a plain redirect, it would put the login form inside the queue list."""
    target = url_for("hr.login", next=request.full_path.rstrip("?") if request.method == "GET" else None)
    if htmx_request():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


# A browser that has signed in to an account before is a "known device" for it (OWASP's device cookies):
# it skips the account's growing delay, so a guesser pacing one wrong password a minute from elsewhere
# slows strangers only, never the owner at their own desk. The cookie holds, per account, a fingerprint
# of its id and password hash: it expires, and a new password revokes it.
KNOWN_DEVICE_DAYS = 180
KNOWN_DEVICE_ACCOUNTS = 5  # accounts one browser remembers (a shared desk)


def _device_cookie_name() -> str:
    return "__Host-kw_device" if current_app.config["SECURE_COOKIES"] else "kw_device"


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="hr-known-device")


def _fingerprint(user: User) -> str:
    return hashlib.sha256(f"{user.id}:{user.password_hash}".encode()).hexdigest()[:32]


def _known_devices() -> dict[str, str]:
    try:
        devices = _device_serializer().loads(request.cookies.get(_device_cookie_name(), ""),
                                             max_age=KNOWN_DEVICE_DAYS * 24 * 3600)  # fmt: skip
    except BadSignature:
        return {}
    return devices if isinstance(devices, dict) else {}


def _known_device(user: User | None) -> bool:
    return user is not None and hmac.compare_digest(_known_devices().get(str(user.id), ""), _fingerprint(user))


def _remember_device(response: Response, user: User) -> Response:
    devices = {key: value for key, value in _known_devices().items() if key != str(user.id)}
    devices = dict(list(devices.items())[-(KNOWN_DEVICE_ACCOUNTS - 1) :]) | {str(user.id): _fingerprint(user)}
    response.set_cookie(
        _device_cookie_name(), _device_serializer().dumps(devices), max_age=KNOWN_DEVICE_DAYS * 24 * 3600,
        path="/", secure=current_app.config["SECURE_COOKIES"], httponly=True, samesite="Lax",
    )  # fmt: skip
    return response


def _account_delay() -> GrowingDelay:
    config = current_app.config
    return GrowingDelay(
        "hr-login-account",
        window_minutes=15,
        free=config["HR_LOGIN_FREE_FAILURES"],
        cap=config["HR_LOGIN_MAX_DELAY_SECONDS"],
    )


def _login_form_expired():
    """The login form again, email kept, after its CSRF token expired."""
    form = LoginForm(formdata=None, email=request.form.get("email", "")[:254])
    return render_template(
        "hr/login.html", form=form, error=_("The page had expired. Please enter your password again.")
    )


@bp.route("/login", methods=["GET", "POST"])
@retry_on_expired_form(_login_form_expired)
def login():
    """Email and password; one message for every failure. Only failures are counted (portal.throttle):

    per address (HR_LOGIN_ADDRESS_LIMIT) and per account and address (HR_LOGIN_LIMIT), both refused
    outright once used up; per account from anywhere, a growing delay that slows a guesser spread over
    many addresses but never locks the owner out for longer than HR_LOGIN_MAX_DELAY_SECONDS, and does
    not slow a browser that has signed in to the account before at all.
    """
    form = LoginForm()
    if not form.validate_on_submit():
        error = _("Please enter your email and password.") if request.method == "POST" and form.errors else None
        return render_template("hr/login.html", form=form, error=error)
    config, address = current_app.config, request.remote_addr or ""
    account, password = (form.email.data or "").strip().lower(), form.password.data or ""
    if is_exhausted(config["HR_LOGIN_ADDRESS_LIMIT"], "hr-login-address", address) or is_exhausted(
        config["HR_LOGIN_LIMIT"], "hr-login-pair", account, address
    ):
        return render_template("errors/429.html"), 429
    user = find_user_by_email(account)
    wait = 0 if _known_device(user) else _account_delay().seconds_to_wait(account)
    if wait:
        error = _("Too many attempts for this account. Please try again in %(seconds)s seconds.", seconds=wait)
        return render_template("hr/login.html", form=form, error=error), 429
    if user is not None and user.active and user.check_password(password):
        _account_delay().succeeded(account)
        session.clear()  # a fresh session on login (no fixation)
        login_user(user)
        session.permanent = True
        session["login_at"] = session["seen_at"] = _now_ts()
        record_login(user, succeeded=True)
        db.session.commit()
        return _remember_device(redirect(safe_next(request.args.get("next"), url_for("hr.queue")), 303), user)
    if user is None:
        _dummy_user().check_password(password)
    count_failure(config["HR_LOGIN_ADDRESS_LIMIT"], "hr-login-address", address)
    count_failure(config["HR_LOGIN_LIMIT"], "hr-login-pair", account, address)
    _account_delay().failed(account)
    record_login(user, succeeded=False)
    db.session.commit()
    return render_template("hr/login.html", form=form, error=_("Email or password is not correct.")), 200


@bp.post("/logout")
def logout():
    """End this session and every other copy of its cookie."""
    if current_user.is_authenticated:
        end_all_sessions(db.session.get_one(User, current_user.id))
        db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("hr.login"), 303)
