"""HR login and logout, and the session rules every back-office request passes (R10, R11)."""

from datetime import datetime, timezone

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from portal.extensions import db, limiter, login_manager
from portal.hr import bp
from portal.hr.forms import LoginForm
from portal.models import User
from portal.services.audit import record_audit
from portal.site import RETRY_ON_EXPIRED_FORM, safe_next

login_manager.login_view = "hr.login"
login_manager.login_message = None
# A password hash that costs the same to check as a real one: unknown emails take as long as wrong passwords.
_DUMMY_HASH = None


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
    return datetime.now(timezone.utc).timestamp()


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
        return redirect(url_for("hr.login", next=request.full_path if request.method == "GET" else None))
    session["seen_at"] = now
    return None


def _login_key() -> str:
    return "hr-login:" + (request.form.get("email") or "").strip().lower()


def _failed_login(response) -> bool:
    return response.status_code == 200 and request.method == "POST"


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["HR_LOGIN_LIMIT"], methods=["POST"], deduct_when=_failed_login)
@limiter.limit(lambda: current_app.config["HR_LOGIN_LIMIT"], methods=["POST"], key_func=_login_key,
               deduct_when=_failed_login)
def login():
    """Email and password; one message for every failure."""
    global _DUMMY_HASH
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalars(sa.select(User).where(sa.func.lower(User.email) == email)).first()
        if user is None:
            if _DUMMY_HASH is None:
                _DUMMY_HASH = User(password_hash="")
                _DUMMY_HASH.set_password("not-a-password")
            _DUMMY_HASH.check_password(form.password.data)
        if user is not None and user.active and user.check_password(form.password.data):
            session.clear()  # a fresh session on login (no fixation)
            login_user(user)
            session.permanent = True
            session["login_at"] = session["seen_at"] = _now_ts()
            record_audit("hr.login", actor_user_id=user.id, object_type="user", object_id=user.id)
            db.session.commit()
            return redirect(safe_next(request.args.get("next"), url_for("hr.queue")), 303)
        record_audit("hr.login", actor_user_id=user.id if user else None, outcome="failed")
        db.session.commit()
        error = _("Email or password is not correct.")
    elif request.method == "POST" and form.errors:
        error = _("Please enter your email and password.")
    return render_template("hr/login.html", form=form, error=error)


def _login_form_expired():
    """The login form again, email kept, after its CSRF token expired."""
    form = LoginForm(formdata=None, email=request.form.get("email", "")[:254])
    return render_template("hr/login.html", form=form,
                           error=_("The page had expired. Please enter your password again."))


RETRY_ON_EXPIRED_FORM["hr.login"] = _login_form_expired


@bp.post("/logout")
def logout():
    """End this session and every other copy of its cookie."""
    if current_user.is_authenticated:
        user = db.session.get(User, current_user.id)
        user.session_epoch += 1
        record_audit("hr.logout", actor_user_id=user.id, object_type="user", object_id=user.id)
        db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("hr.login"), 303)
