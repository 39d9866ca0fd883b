"""``flask`` commands: thin wrappers over services, each committing once."""

import click
import sqlalchemy as sa
from flask import Flask

from portal.extensions import db
from portal.models import Candidate, User
from portal.models.users import ROLES
from portal.services.audit import record_audit
from portal.services.links import issue_link, public_link_url


@click.command("create-user")
@click.argument("email")
@click.option("--name", required=True, help="Name shown to colleagues and candidates.")
@click.option("--role", type=click.Choice(ROLES), default="hr", show_default=True)
@click.option("--phone", default=None, help="Phone number candidates may call.")
@click.password_option(help="Asked for when not given.")
def create_user(email: str, name: str, role: str, phone: str | None, password: str) -> None:
    """Create an HR or admin user."""
    email = email.strip().lower()
    if db.session.scalars(sa.select(User).where(sa.func.lower(User.email) == email)).first():
        raise click.ClickException(f"A user with the email {email} already exists.")
    user = User(email=email, name=name, role=role, phone=phone)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created {role} {email}.")


@click.command("candidate-link")
@click.argument("candidate")
def candidate_link(candidate: str) -> None:
    """Issue a new link for CANDIDATE (id or email); earlier links stop working."""
    query = sa.select(Candidate)
    query = query.where(Candidate.id == int(candidate)) if candidate.isdigit() else \
        query.where(sa.func.lower(Candidate.email) == candidate.strip().lower())
    found = db.session.scalars(query).first()
    if found is None:
        raise click.ClickException(f"No candidate {candidate!r}.")
    link, token = issue_link(found, "cli", revoke_others=True)
    record_audit("link.issue", object_type="candidate", object_id=found.id,
                 detail=f"link {link.id} from the command line, earlier links revoked")
    db.session.commit()
    click.echo(public_link_url(token))


@click.command("demo")
def demo() -> None:
    """Load the demo data (once) and print fresh links for the demo candidates."""
    from portal.demo import load_demo

    for line in load_demo():
        click.echo(line)


@click.command("purge")
def purge() -> None:
    """Delete engagement events older than ENGAGEMENT_RETENTION_DAYS."""
    from portal.models import utcnow
    from portal.services.retention import purge_engagement

    deleted = purge_engagement(utcnow())
    db.session.commit()
    click.echo(f"Deleted {deleted} engagement events.")


@click.command("scan")
@click.option("--dry-run", is_flag=True, help="Print what the scan would do and write nothing.")
def scan(dry_run: bool) -> None:
    """Run the risk rules once now and print what was raised, escalated and closed."""
    from portal.models import utcnow
    from portal.services.scan import run_scan

    result = run_scan(utcnow(), dry_run=dry_run)
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    verb = "would raise" if dry_run else "raised"
    for name, outcome in result.rules.items():
        if outcome.error:
            click.echo(f"{name:<26} FAILED: {outcome.error}", err=True)
        else:
            click.echo(f"{name:<26} {verb} {outcome.raised}, escalated {outcome.escalated}, closed {outcome.closed}")
    if result.failed:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    for command in (create_user, candidate_link, demo, purge, scan):
        app.cli.add_command(command)
