"""The one place that writes the audit log."""

import ipaddress
import uuid

from flask import g, has_request_context, request

from portal.extensions import db
from portal.models import AuditEvent


def _ip_prefix(address: str | None) -> str:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return ""
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def request_id() -> str:
    """A per-request id that ties audit rows of one request together."""
    if not has_request_context():
        return ""
    if "request_id" not in g:
        g.request_id = str(uuid.uuid4())
    return g.request_id


def _one_line(text: str) -> str:
    # Encode CR/LF so a crafted value cannot forge extra lines in an exported log (R14).
    return text.replace("\r", "\\r").replace("\n", "\\n")


def record_audit(
    action: str,
    *,
    actor_user_id: int | None = None,
    object_type: str = "",
    object_id: int | None = None,
    outcome: str = "ok",
    detail: str = "",
) -> None:
    """Append one audit row; never put tokens or personal data into ``detail``."""
    db.session.add(
        AuditEvent(
            action=action,
            actor_user_id=actor_user_id,
            object_type=object_type,
            object_id=object_id,
            outcome=outcome,
            request_id=request_id(),
            ip_prefix=_ip_prefix(request.remote_addr) if has_request_context() else "",
            detail=_one_line(detail)[:500],
        )
    )
    db.session.flush()


def record_on_candidate(action: str, candidate_id: int, *, actor_user_id: int | None, detail: str) -> None:
    """One line of a candidate's history: what staff (or the command line) did about them."""
    record_audit(action, actor_user_id=actor_user_id, object_type="candidate", object_id=candidate_id, detail=detail)
