"""Back-office accounts: creating them, signing in and out (R10, R11)."""

from datetime import datetime

import sqlalchemy as sa

from portal.extensions import db
from portal.models import User
from portal.models.users import Role
from portal.services.audit import record_audit


class StaffError(ValueError):
    """The account change cannot be made; the message says why, and nothing changed."""


def find_user_by_email(email: str) -> User | None:
    return db.session.scalars(sa.select(User).where(sa.func.lower(User.email) == email.strip().lower())).first()


def create_user(
    email: str, *, name: str, password: str, role: str = Role.HR, phone: str | None = None, now: datetime
) -> User:
    """A new HR or admin account; emails are unique whatever their case."""
    email = email.strip().lower()
    if role not in set(Role):
        raise StaffError(f"Unknown role {role!r}.")
    if find_user_by_email(email) is not None:
        raise StaffError(f"A user with the email {email} already exists.")
    user = User(email=email, name=name, role=role, phone=phone, created_at=now)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def record_login(user: User | None, *, succeeded: bool) -> None:
    """Every sign-in attempt is in the audit log; a failed one names the account only when it exists."""
    record_audit(
        "hr.login",
        actor_user_id=user.id if user else None,
        object_type="user" if succeeded else "",
        object_id=user.id if succeeded and user else None,
        outcome="ok" if succeeded else "failed",
    )


def end_all_sessions(user: User) -> None:
    """Sign out everywhere: every cookie issued before is refused from now on (the session epoch moves)."""
    user.session_epoch += 1
    record_audit("hr.logout", actor_user_id=user.id, object_type="user", object_id=user.id)
    db.session.flush()
