"""``flask`` commands: thin wrappers over services, each committing once."""

import click
import sqlalchemy as sa
from flask import Flask

from portal.extensions import db
from portal.models import Candidate, utcnow
from portal.models.candidates import Channel
from portal.models.users import Role
from portal.services.links import issue_link, public_link_url
from portal.services.staff import StaffError, create_user
from portal.web import MAX_ID


@click.command("create-user")
@click.argument("email")
@click.option("--name", required=True, help="Name shown to colleagues and candidates.")
@click.option("--role", type=click.Choice([role.value for role in Role]), default=Role.HR.value, show_default=True)
@click.option("--phone", default=None, help="Phone number candidates may call.")
@click.password_option(help="Asked for when not given.")
def create_user_command(email: str, name: str, role: str, phone: str | None, password: str) -> None:
    """Create an HR or admin user."""
    try:
        user = create_user(email, name=name, password=password, role=role, phone=phone, now=utcnow())
    except StaffError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"Created {role} {user.email}.")


@click.command("candidate-link")
@click.argument("candidate")
def candidate_link(candidate: str) -> None:
    """Issue a new link for CANDIDATE (id or email); earlier links stop working."""
    if candidate.isdigit():
        found = db.session.get(Candidate, int(candidate)) if int(candidate) <= MAX_ID else None
    else:
        found = db.session.scalars(
            sa.select(Candidate).where(sa.func.lower(Candidate.email) == candidate.strip().lower())
        ).first()
    if found is None:
        raise click.ClickException(f"No candidate {candidate!r}.")
    _link, token = issue_link(found, Channel.CLI, revoke_others=True, now=utcnow())
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
    from portal.services.retention import purge_engagement

    deleted = purge_engagement(utcnow())
    db.session.commit()
    click.echo(f"Deleted {deleted} engagement events.")


@click.command("scan")
@click.option("--dry-run", is_flag=True, help="Print what the scan would do and write nothing.")
def scan(dry_run: bool) -> None:
    """Run the risk rules once now and print what was raised, escalated and closed."""
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
    for command in (create_user_command, candidate_link, demo, purge, scan):
        app.cli.add_command(command)
