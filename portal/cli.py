"""``flask`` commands: thin wrappers over services, each committing once."""

from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask
from flask_babel import force_locale

from portal.extensions import db
from portal.jobs.messages import send_due_job
from portal.models import Candidate, Outbox, User, utcnow
from portal.models.candidates import Channel
from portal.models.outbox import MessageStatus
from portal.models.users import Role
from portal.services.importing import FileRefused, check_rows, import_rows, propose_mapping, read_sheet
from portal.services.links import issue_link, public_link_url
from portal.services.staff import StaffError, create_user
from portal.services.worktime import CalendarError, calendar_file, calendar_year, import_calendar
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
    """Delete engagement events older than ENGAGEMENT_RETENTION_DAYS and uploads nobody imported within a day."""
    from portal.services.retention import purge_engagement, purge_import_uploads

    now = utcnow()
    deleted = purge_engagement(now)
    uploads = purge_import_uploads(now)
    db.session.commit()
    click.echo(f"Deleted {deleted} engagement events and {uploads} expired uploads.")


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


@click.command("import-candidates")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--owner", default=None, help="Email of the staff member who owns rows without an owner.")
@click.option("--on-duplicate", type=click.Choice(["skip", "update"]), default="skip", show_default=True)
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows even when some are rejected.")
@click.option("--dry-run", is_flag=True, help="Check every row and report; change nothing.")
def import_candidates(file: str, owner: str | None, on_duplicate: str, skip_invalid: bool, dry_run: bool) -> None:
    """Import candidates from a CSV (UTF-8 or GB18030) or .xlsx whose headers HR use (姓名/name, 手机/phone, …).

    A file with any rejected row imports nothing and exits 1, unless --skip-invalid.
    """
    now = utcnow()
    owner_id = None
    if owner:
        owner_id = db.session.scalar(sa.select(User.id).where(sa.func.lower(User.email) == owner.strip().lower()))
        if owner_id is None:
            raise click.ClickException(f"No staff member has the email {owner}.")
    try:
        sheet = read_sheet(file, Path(file).read_bytes())
    except FileRefused as error:
        raise click.ClickException(str(error)) from None
    mapping = propose_mapping(sheet.header)
    unmapped = [header for index, header in enumerate(sheet.header) if index not in mapping and header]
    if unmapped:
        click.echo(f"Columns not imported: {', '.join(unmapped)}")
    rows = check_rows(sheet, mapping, actor=None, now=now, default_owner_id=owner_id)
    report = import_rows(
        rows, actor=None, now=now, on_duplicate=on_duplicate, skip_invalid=skip_invalid or dry_run, filename=file
    )
    for row in rows:
        for message in row.errors:
            click.echo(f"line {row.line}: {message}")
    accepted = skip_invalid or not report.rejected
    if dry_run or not accepted:
        db.session.rollback()
    else:
        db.session.commit()
    prefix = "dry run, nothing changed: " if dry_run else "" if accepted else "nothing imported: "
    click.echo(prefix + report.summary())
    if not accepted:
        raise SystemExit(1)


@click.group("calendar")
def calendar() -> None:
    """The work calendar: public holidays and China's make-up working days (调休)."""


@calendar.command("show")
@click.argument("year", type=int)
def calendar_show(year: int) -> None:
    """The days of YEAR that break the weekly pattern, and whether the year is confirmed."""
    state = calendar_year(year, utcnow())
    db.session.commit()  # a year seen for the first time was seeded from the holidays package
    click.echo(
        f"# {year}: "
        + ("confirmed" if state.confirmed else "not yet published: holidays guessed, no make-up working days")
    )
    click.echo(calendar_file(state.days), nl=False)


@calendar.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def calendar_import(file: str) -> None:
    """Replace the years in FILE with its days, one a line: 2027-02-06 work 调休上班 (or: rest 春节).

    The output of "flask calendar show YEAR", edited, is such a file.
    """
    try:
        years = import_calendar(Path(file).read_text("utf-8-sig"), utcnow())
    except CalendarError as error:
        with force_locale("en"):
            raise click.ClickException("\n".join(map(str, error.problems))) from None
    db.session.commit()
    click.echo(f"imported {', '.join(map(str, years))}: confirmed")


@click.group("outbox")
def outbox() -> None:
    """The messages Keepwarm sends: queued, sent, failed, dropped."""


@outbox.command("send-due")
def outbox_send_due() -> None:
    """Send every message that is due now (what the messages worker does every OUTBOX_INTERVAL_SECONDS)."""
    total = send_due_job()
    click.echo(", ".join(f"{name} {count}" for name, count in total.items()))


@outbox.command("list")
@click.option("--status", type=click.Choice([str(status) for status in MessageStatus]), default=None)
@click.option("--limit", type=int, default=50, show_default=True)
def outbox_list(status: str | None, limit: int) -> None:
    """The newest messages (bodies hold the link placeholder: a token is never stored)."""
    query = sa.select(Outbox).order_by(Outbox.id.desc()).limit(limit)
    if status:
        query = query.where(Outbox.status == status)
    rows = db.session.scalars(query).all()
    if not rows:
        click.echo("no messages" + (f" {status}" if status else ""))
    for row in rows:
        due = row.sent_at or row.due_at
        click.echo(
            f"#{row.id} {row.status:<8} {row.kind:<5} candidate {row.candidate_id} {due:%Y-%m-%d %H:%M}Z "
            f"attempts {row.attempts} {row.reason}".rstrip()
        )


def init_app(app: Flask) -> None:
    for command in (create_user_command, candidate_link, demo, purge, scan, import_candidates, calendar, outbox):
        app.cli.add_command(command)
