"""Outbox benchmark: 10,000 messages drained into a local SMTP sink by 1 and by 2 senders, on SQLite and
PostgreSQL, against the ceiling of Flask-Mail alone sending the same messages to the same sink.

    ./dev bench-messages                      # 10,000 messages (and 1,000 for memory), both databases
    ./dev bench-messages --quick              # 1,000 and 200
    ./dev bench-messages --db postgresql --size 20000

For each database: migrate a fresh database and add one candidate per message, each with an email address.
The sink is aiosmtpd in a process of its own, counting what it accepts. Then:

- ceiling: Flask-Mail alone builds each message (same subject, plain and HTML bodies) and sends it to the
  sink over one connection: the most a sender could do with no database at all;
- for 1 and 2 senders: queue the messages (untimed), then one message HR send by hand, queued last; start the
  senders (processes calling ``send_due`` until nothing is due, as the messages worker does) and time the
  drain (their clock runs from a Wednesday morning, WORKING_MOMENT, as a sender checks the send window: the
  bench runs at any hour, any day). The sink must hold each message exactly once. Also printed: when the
  hand-sent message went out (goal < 60 s), and the peak memory of a sender;
- memory: one sender draining the smaller size (``--memory-size``), whose peak must be within 10 % of the
  peak at the full size.

Goals: 2 senders on PostgreSQL reach >= 70 % of the ceiling; a sender's peak memory at the full size within
10 % of its peak at the smaller one; the hand-sent message out within 60 s. See bench/README.md.
"""

import multiprocessing
import resource
import sys
import time
from datetime import UTC, datetime, timedelta

import harness
from harness import log

GOAL_SHARE_OF_CEILING = 0.70
GOAL_MEMORY_GROWTH = 0.10
GOAL_HAND_SENT_S = 60.0
WORKING_MOMENT = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Shanghai
SUBJECT = "入职提醒 · Onboarding reminder"
BODY = (
    "您好，\n\n这是您入职前的提醒：请在培训第一天带上身份证、银行卡和两张一寸照片。"
    "如有疑问，请致电 HR。\n\nHello, a reminder before you start: bring your ID card, bank card and two photos "
    "on the first day of training.\n"
)


# --------------------------------------------------------------------------------------------
# The sink: a process of its own, so the senders measured do not share its interpreter
# --------------------------------------------------------------------------------------------


def _sink_process(port_out, count, ready, stop) -> None:
    from aiosmtpd.controller import Controller

    class Counter:
        async def handle_DATA(self, server, session, envelope):
            with count.get_lock():
                count.value += 1
            return "250 OK"

    sys.path.insert(0, str(harness.ROOT))
    from tests.smtp import free_port

    controller = Controller(Counter(), hostname="127.0.0.1", port=free_port())
    controller.start()
    port_out.value = controller.port
    ready.set()
    stop.wait()
    controller.stop()


class Sink:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.count = context.Value("i", 0)
        port, self.ready, self.stop = context.Value("i", 0), context.Event(), context.Event()
        self.process = context.Process(target=_sink_process, args=(port, self.count, self.ready, self.stop))
        self.process.start()
        if not self.ready.wait(30):
            raise harness.BenchFailure("the SMTP sink did not start")
        self.port = port.value

    def reset(self) -> None:
        with self.count.get_lock():
            self.count.value = 0

    def close(self) -> None:
        self.stop.set()
        self.process.join(10)


# --------------------------------------------------------------------------------------------
# A sender: a process that drains the outbox as the messages worker does
# --------------------------------------------------------------------------------------------


def _sender_process(env, shift, start, sent_out, peak_out) -> None:
    app = harness.make_app(env)
    from portal.services.outbox import send_due

    with app.app_context():
        start.wait()
        sent = 0
        while True:
            done = send_due(clock=lambda: datetime.now(UTC) + shift)
            if not done.handled:
                break
            sent += done.sent
    sent_out.value = sent
    peak_out.value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def queue_messages(app, size: int, now: datetime) -> int:
    """``size`` automated messages, then one HR send by hand; all due now. Returns the hand-sent row's id."""
    import sqlalchemy as sa

    from portal.extensions import db
    from portal.models import Candidate, Outbox, User
    from portal.models.outbox import MessageKind
    from portal.services.outbox import queue_message, send_note_by_hand

    with app.app_context():
        db.session.execute(sa.delete(Outbox))
        candidates = db.session.scalars(sa.select(Candidate).order_by(Candidate.id).limit(size + 1)).all()
        for candidate in candidates[:size]:
            queue_message(
                candidate, kind=MessageKind.NOTE, key=f"bench:{candidate.id}", subject=SUBJECT, body=BODY, now=now
            )
        hr = db.session.scalars(sa.select(User)).first()
        hand_sent = send_note_by_hand(
            candidates[size], actor_id=hr.id, request_key="bench", text=BODY, with_link=False, urgent=True, now=now
        )
        db.session.execute(sa.update(Outbox).values(due_at=now - timedelta(seconds=1)))  # all due now
        db.session.commit()
        assert hand_sent is not None
        return hand_sent.id


def drain(app, env, senders: int, size: int, sink: Sink) -> dict:
    """Time ``senders`` processes draining ``size`` + 1 messages; when the hand-sent one went; peak memory."""
    import sqlalchemy as sa

    from portal.extensions import db
    from portal.models import Outbox

    shift = WORKING_MOMENT - datetime.now(UTC)  # the senders' clock: the send window is open whenever this runs
    hand_sent_id = queue_messages(app, size, WORKING_MOMENT)
    sink.reset()
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results = [(context.Value("i", 0), context.Value("d", 0.0)) for _ in range(senders)]
    processes = [context.Process(target=_sender_process, args=(env, shift, start, *result)) for result in results]
    for process in processes:
        process.start()
    time.sleep(3)  # the senders build their app; the clock starts when they all can go
    started = time.monotonic()
    start.set()
    hand_sent_after = None
    with app.app_context():
        while any(process.is_alive() for process in processes):
            if hand_sent_after is None:
                status = db.session.scalar(sa.select(Outbox.status).where(Outbox.id == hand_sent_id))
                db.session.rollback()
                if status == "sent":
                    hand_sent_after = time.monotonic() - started
            time.sleep(0.05)
    took = time.monotonic() - started
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise harness.BenchFailure(f"a sender exited with {process.exitcode}")
    with app.app_context():
        states = dict(db.session.execute(sa.select(Outbox.status, sa.func.count()).group_by(Outbox.status)).all())
    sent = sum(result[0].value for result in results)
    if states != {"sent": size + 1} or sink.count.value != size + 1 or sent != size + 1:
        raise harness.BenchFailure(f"expected {size + 1} sent once each: rows {states}, sink {sink.count.value}")
    return {
        "seconds": took,
        "per_second": (size + 1) / took,
        "hand_sent_s": hand_sent_after if hand_sent_after is not None else took,
        "peak_mb": max(result[1].value for result in results),
    }


def ceiling(app, size: int, sink: Sink) -> float:
    """Messages a second Flask-Mail alone builds and sends to the sink over one connection."""
    import sqlalchemy as sa
    from flask_mail import Message

    from portal.extensions import db
    from portal.models import Candidate
    from portal.services.channels import as_html

    with app.app_context():
        addresses = db.session.scalars(sa.select(Candidate.email).order_by(Candidate.id).limit(size)).all()
        mail = app.extensions["mail"]
        sink.reset()
        started = time.monotonic()
        with mail.connect() as connection:
            for address in addresses:
                connection.send(Message(SUBJECT, recipients=[address], body=BODY, html=as_html(BODY)))
        took = time.monotonic() - started
    if sink.count.value != size:
        raise harness.BenchFailure(f"the ceiling run delivered {sink.count.value} of {size}")
    return size / took


def add_people(app, count: int) -> None:
    import sqlalchemy as sa

    from portal.extensions import db
    from portal.models import Candidate, User

    with app.app_context():
        harness.migrate_fresh()
        db.session.add(User(email="hr@example.com", name="HR", role="hr", password_hash="x"))
        db.session.execute(
            sa.insert(Candidate),
            [
                {"name": f"候选人{n}", "email": f"c{n}@example.com", "locale": "zh_CN", "created_at": datetime.now(UTC)}
                for n in range(count)
            ],
        )
        db.session.commit()


def measure(name: str, args, workdir, sink: Sink) -> dict:
    url = harness.database_url(name, args, workdir)
    env = harness.app_environment(url)
    env.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=str(sink.port), OUTBOX_BATCH=str(args.batch))
    app = harness.make_app(env)
    add_people(app, args.size + 1)
    figures = {"ceiling": ceiling(app, args.size, sink)}
    log(f"  ceiling (Flask-Mail alone): {figures['ceiling']:.0f} messages/s")
    for senders in (1, 2):
        figures[senders] = drain(app, env, senders, args.size, sink)
        run = figures[senders]
        log(
            f"  {senders} sender(s): {run['per_second']:.0f}/s ({run['seconds']:.1f} s), hand-sent out after "
            f"{run['hand_sent_s']:.1f} s, peak {run['peak_mb']:.0f} MB"
        )
    figures["small"] = drain(app, env, 1, args.memory_size, sink)
    log(f"  1 sender, {args.memory_size}: peak {figures['small']['peak_mb']:.0f} MB")
    return figures


def main() -> None:
    parser = harness.argument_parser(__doc__, "keepwarm_bench_messages")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--memory-size", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=100, help="OUTBOX_BATCH (rows a sender claims at a time)")
    parser.add_argument("--quick", action="store_true", help="1,000 messages and 200 for memory")
    args = parser.parse_args()
    if args.quick:
        args.size, args.memory_size = 1_000, 200
    databases, skipped = harness.chosen_databases(args)
    sink = Sink()
    try:
        with harness.scratch_folder("keepwarm-bench-messages-") as workdir:
            results = harness.measure_each(databases, skipped, lambda name: measure(name, args, workdir, sink))
    finally:
        sink.close()
    lines = [
        f"Outbox: {args.size:,} messages into a local SMTP sink (aiosmtpd, its own process), batch {args.batch}",
        harness.software("Flask", "Flask-Mail", "SQLAlchemy", "SQLite"),
        "",
        f"{'database':<11} {'ceiling/s':>9} {'1 sender/s':>10} {'2 senders/s':>11} {'share':>6} "
        f"{'hand-sent s':>11} {'peak MB':>8} {'small MB':>8} {'growth':>7}",
    ]
    failed = False
    for name, figures in results.items():
        share = figures[2]["per_second"] / figures["ceiling"]
        peak = max(figures[1]["peak_mb"], figures[2]["peak_mb"])
        growth = figures[1]["peak_mb"] / figures["small"]["peak_mb"] - 1
        hand_sent = max(figures[1]["hand_sent_s"], figures[2]["hand_sent_s"])
        lines.append(
            f"{name:<11} {figures['ceiling']:>9.0f} {figures[1]['per_second']:>10.0f} "
            f"{figures[2]['per_second']:>11.0f} {share:>6.0%} {hand_sent:>11.1f} {peak:>8.0f} "
            f"{figures['small']['peak_mb']:>8.0f} {growth:>7.1%}"
        )
        if name == "postgresql" and share < GOAL_SHARE_OF_CEILING:
            failed = True
        if growth > GOAL_MEMORY_GROWTH or hand_sent > GOAL_HAND_SENT_S:
            failed = True
    for name, reason in skipped.items():
        lines.append(f"{name:<11} skipped: {reason}")
    lines += [
        "",
        f"Goals: 2 senders on PostgreSQL >= {GOAL_SHARE_OF_CEILING:.0%} of the ceiling; peak memory at {args.size:,} "
        f"within {GOAL_MEMORY_GROWTH:.0%} of {args.memory_size:,}; the hand-sent message out within "
        f"{GOAL_HAND_SENT_S:.0f} s.",
        "Goals met." if not failed else "A goal was missed.",
    ]
    harness.report(lines, "messages.txt")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
