"""The candidates list at scale: search, every filter, sorts, the capped count, bad input, scope, statements."""

import html as markup
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.extensions import db
from portal.hr import queries
from portal.hr.queries import ListFilters, list_page, phone_digits
from portal.models import Flag
from portal.services.contacts import log_contact
from tests.builders import gen_candidate, gen_cohort, gen_flag, gen_user, signed_in
from tests.sqlcount import count_statements

EN = {"Accept-Language": "en"}
ZONE = ZoneInfo("Asia/Shanghai")


def names(html: str) -> list[str]:
    """The candidates a list page shows, in order."""
    return [markup.unescape(name) for name in re.findall(r'<td><a href="/hr/candidates/\d+">([^<]*)</a>', html)]


def listed(client, query: str = "") -> list[str]:
    response = client.get(f"/hr/?{query}", headers=EN)
    assert response.status_code == 200
    return names(response.get_data(as_text=True))


@pytest.fixture
def hr(app):
    return gen_user("hr", email="hr@example.com", name="Zhou")


@pytest.fixture
def admin(app):
    return gen_user("admin", email="boss@example.com", name="Boss")


@pytest.mark.parametrize(
    "text, digits",
    [
        ("13900000001", "13900000001"),
        ("+86 139-0000-0001", "13900000001"),
        ("0086 139 0000 0001", "13900000001"),
        ("１３９００", "13900"),  # full-width digits, as a Chinese input method types them
        ("(139) 0000", "1390000"),
        ("12", ""),  # too short to mean anything
        ("王小明", ""),
        ("wang@example.com", ""),
    ],
)
def test_phone_digits(text, digits):
    assert phone_digits(text) == digits


def test_search_by_name_any_part_of_the_phone_number_and_email(app, client, site, hr, now):
    gen_candidate(site, [("passed", now)], name="王小明", owner=hr, phone="+8613900000001", email="wang@example.com")
    gen_candidate(site, [("passed", now)], name="Li Lei", owner=hr, phone="+8613800009999", email="li@corp.example")
    gen_candidate(site, [("passed", now)], name="张伟", owner=hr, phone=None, email="zhang@example.com")
    signed_in(client, hr)
    assert listed(client, "q=小明") == ["王小明"]
    assert listed(client, "q=li+lei") == ["Li Lei"]  # any case
    assert listed(client, "q=13900000001") == ["王小明"]
    assert listed(client, "q=%2B86+139-0000-0001") == ["王小明"]
    assert listed(client, "q=0000-0001") == ["王小明"]  # any part
    assert listed(client, "q=９９９９") == ["Li Lei"]  # full-width digits
    assert sorted(listed(client, "q=example.com")) == ["张伟", "王小明"]  # a part of the email
    assert listed(client, "q=LI%40CORP") == ["Li Lei"]
    assert listed(client, "q=100%25") == []  # % and _ are searched for, not wildcards


def test_each_filter_narrows_the_list(app, client, site, hr, now):
    other = gen_user("hr", email="other@example.com")
    cohort = gen_cohort(name="March")
    day = timedelta(days=1)
    gen_candidate(site, [("passed", now)], name="plain", owner=hr, last_seen_at=now - 40 * day)
    gen_candidate(
        site,
        [("passed", now - 3 * day), ("background_check", now)],
        name="checked",
        owner=hr,
        cohort=cohort,
        site="浦东店",
        position="店员",
        source_channel="校园",
        last_seen_at=now - 2 * day,
    )
    gen_candidate(site, [("passed", now)], name="unowned", status="started")
    gen_candidate(site, [("passed", now)], name="theirs", owner=other)
    quiet = gen_candidate(site, [("passed", now)], name="quiet", owner=hr)
    gen_flag(quiet, severity="urgent", now=now)
    due = gen_candidate(site, [("passed", now)], name="due", owner=hr)
    log_contact(due, channel="phone", outcome="reached", actor=hr, now=now, contacted_at=now - 20 * day)
    db.session.commit()
    signed_in(client, hr)
    everyone = {"plain", "checked", "unowned", "quiet", "due"}
    assert set(listed(client)) == everyone  # never someone else's
    day_of = (now - 2 * day).astimezone(ZONE).date().isoformat()
    expectations = {
        f"stage={site['background_check'].id}": {"checked"},
        f"cohort={cohort.id}": {"checked"},
        "site=浦东店": {"checked"},
        "site=浦东": {"checked"},  # any part of the value
        "position=店员": {"checked"},
        "position=店": {"checked"},
        "source=校园": {"checked"},
        "source=园": {"checked"},
        f"owner={hr.id}": everyone - {"unowned"},
        "owner=none": {"unowned"},
        "status=started": {"unowned"},
        "status=active": everyone - {"unowned"},
        "contact_due=y": {"due"},
        f"seen_from={day_of}&seen_to={day_of}": {"checked"},
        "never_seen=y": everyone - {"plain", "checked"},
        "flags=open": {"quiet"},
        "flags=urgent": {"quiet"},
        "flags=none": everyone - {"quiet"},
        "tier=C": {"quiet"},
        "tier=A": everyone - {"quiet"},
        "site=浦东店&status=started": set(),
    }
    for query, expected in expectations.items():
        assert set(listed(client, query)) == expected, query


def test_the_tier_filter_agrees_with_the_tier_each_row_shows(app, site, admin, now):
    """Filtering by tier reads the same rule as the tier a row shows (models.flags.derived_tier), override first."""
    day = timedelta(days=1)
    kinds = {
        "none": [],
        "one warning": [("warning", None)],
        "two warnings": [("warning", None), ("warning", None)],
        "urgent": [("urgent", now - day)],
        "urgent a week": [("urgent", now - 8 * day)],
    }
    for label, flags in kinds.items():
        for override in (None, "B"):
            candidate = gen_candidate(site, [("passed", now)], name=f"{label} {override}", risk_tier_override=override)
            for n, (severity, since) in enumerate(flags):
                gen_flag(candidate, rule=f"rule_{n}", severity=severity, urgent_since=since, now=now)
    # A flag closed long ago counts for nothing.
    gen_flag(gen_candidate(site, [("passed", now)], name="resolved"), resolved_at=now - day, now=now)
    everyone = list_page(admin, ListFilters(), now, ZONE, 1, 100).items
    shown = {candidate.name: candidate.tier for candidate in everyone}
    assert shown["one warning None"] == "B" and shown["urgent a week None"] == "D" and shown["resolved"] == "A"
    for tier in "ABCD":
        filtered = list_page(admin, ListFilters(tier=tier), now, ZONE, 1, 100)
        assert {c.name for c in filtered.items} == {name for name, t in shown.items() if t == tier}, tier
        assert filtered.total == len(filtered.items)


def test_sorts_and_ties(app, client, site, hr, now):
    hour = timedelta(hours=1)
    gen_candidate(site, [("passed", now)], name="B never", owner=hr, created_at=now - 3 * hour)
    gen_candidate(site, [("passed", now)], name="C old", owner=hr, last_seen_at=now - 5 * hour, created_at=now)
    gen_candidate(site, [("passed", now)], name="A new", owner=hr, last_seen_at=now - hour, created_at=now - hour)
    signed_in(client, hr)
    assert listed(client) == ["A new", "C old", "B never"]  # newest visit first, never visited last
    assert listed(client, "sort=name") == ["A new", "B never", "C old"]
    assert listed(client, "sort=added") == ["C old", "A new", "B never"]
    assert listed(client, "sort=nonsense") == ["A new", "C old", "B never"]  # refused: the default, and said so


def test_the_count_stops_at_the_cap_and_paging_goes_on(app, client, site, hr, now, monkeypatch):
    monkeypatch.setattr(queries, "LIST_COUNT_CAP", 4)
    for n in range(7):
        gen_candidate(site, [("passed", now)], name=f"C{n}", owner=hr, last_seen_at=now - timedelta(minutes=n))
    signed_in(client, hr)
    first = client.get("/hr/?per=25", headers=EN).get_data(as_text=True)
    assert "More than 4 candidates" in first and len(names(first)) == 7
    monkeypatch.setattr("portal.hr.views.CANDIDATES_PER_PAGE", 3)
    pages = [client.get(f"/hr/?page={n}", headers=EN).get_data(as_text=True) for n in (1, 2, 3)]
    assert [names(page) for page in pages] == [["C0", "C1", "C2"], ["C3", "C4", "C5"], ["C6"]]
    assert 'rel="next"' in pages[1] and "Page 2" in pages[1] and "Page 2 of" not in pages[1]
    assert "More than 4" not in client.get("/hr/?q=C6", headers=EN).get_data(as_text=True)


@pytest.mark.parametrize("mine_visited", ["first", "last", "spread"])
def test_a_page_found_by_walking_the_sort_order_is_the_page_read_by_the_filter(
    app, client, site, hr, now, monkeypatch, mine_visited
):
    """Below the cap a page is first looked for among the first WALK_ROWS candidates in the sort's order;
    when the user's candidates gather at the far end, the walk comes back short and the filter's index
    finds them. Either way every page is the one read without the walk."""
    other = gen_user("hr", email="other@example.com")
    mine = {"first": range(6), "last": range(6, 12), "spread": range(0, 12, 2)}[mine_visited]
    for n in range(12):
        owner = hr if n in mine else other
        gen_candidate(site, [("passed", now)], name=f"C{n:02d}", owner=owner, last_seen_at=now - timedelta(hours=n))
    signed_in(client, hr)
    monkeypatch.setattr("portal.hr.views.CANDIDATES_PER_PAGE", 2)
    queries_ = ["page=1", "page=2", "page=3", "page=4", "sort=name&page=2", "sort=added&page=3"]
    monkeypatch.setattr(queries, "WALK_FROM", 10**6)  # never walk
    read = [listed(client, query) for query in queries_]
    monkeypatch.setattr(queries, "WALK_FROM", 1)
    monkeypatch.setattr(queries, "WALK_ROWS", 5)
    walks = []
    walk = queries._walked_page_ids
    monkeypatch.setattr(queries, "_walked_page_ids", lambda *args: walks.append(args) or walk(*args))
    walked = [listed(client, query) for query in queries_]
    assert walked == read
    assert sorted(sum(read[:3], [])) == [f"C{n:02d}" for n in range(12) if n in mine]  # each of mine once
    assert len(walks) == 3  # tried for the pages that end within the first 5: pages 1 and 2, and name's page 2


def test_a_search_past_its_last_page_still_counts(app, client, site, hr, now):
    for n in range(3):
        gen_candidate(site, [("passed", now)], name=f"Wang {n}", owner=hr)
    signed_in(client, hr)
    page = client.get("/hr/?q=wang&page=5", headers=EN).get_data(as_text=True)
    assert "3 candidates" in page and "No candidates on this page." in page and "Back to the first page" in page


def test_bad_filter_values_are_reported_and_left_out(app, client, site, hr, now):
    gen_candidate(site, [("passed", now)], name="Only", owner=hr, site="浦东店")
    signed_in(client, hr)
    answer = client.get("/hr/?stage=abc&seen_from=2027-02-31&tier=Z&site=浦东店&q=" + "x" * 101, headers=EN)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert html.count('class="error" role="alert"') == 4 and "Not a valid choice" in html
    assert 'value="' + "x" * 101 + '"' in html  # what was typed stays in its field
    assert names(html) == ["Only"]  # the good filter applies, the bad ones are left out
    for absurd in ("page=-3", "page=99999999999999999999", "per=7", "owner=99999999999999999999"):
        assert client.get(f"/hr/?{absurd}").status_code == 200


def test_hr_cannot_filter_by_a_colleague_nor_see_their_candidates(app, client, site, hr, now):
    other = gen_user("hr", email="other@example.com")
    gen_candidate(site, [("passed", now)], name="Theirs", owner=other, phone="+8613900000077")
    signed_in(client, hr)
    html = client.get(f"/hr/?owner={other.id}", headers=EN).get_data(as_text=True)
    assert "Not a valid choice" in html and "Theirs" not in html
    assert listed(client, "q=13900000077") == []
    owners = re.search(r'<select id="owner" name="owner">(.*?)</select>', html).group(1)
    assert re.findall(r'<option[^>]*value="([^"]*)"', owners) == ["", str(hr.id), "none"]  # all, mine, unassigned


def test_admins_filter_by_any_owner(app, client, site, admin, hr, now):
    gen_candidate(site, [("passed", now)], name="Zhou's", owner=hr)
    gen_candidate(site, [("passed", now)], name="Nobody's")
    signed_in(client, admin)
    assert listed(client, f"owner={hr.id}") == ["Zhou's"]
    assert listed(client, "owner=none") == ["Nobody's"]


@pytest.mark.parametrize(
    "query", ["", "q=wang", "q=139", "site=浦东店", "tier=B", "flags=open", "sort=name&status=active", "page=2"]
)
def test_statements_per_page_do_not_grow_with_rows(app, client, site, admin, now, query):
    signed_in(client, admin)

    def add(count: int) -> None:
        for n in range(count):
            candidate = gen_candidate(
                site, [("passed", now)], name=f"Wang {n}", site="浦东店", phone=f"+86139{n:08d}", owner=admin
            )
            gen_flag(candidate, now=now)

    add(26 if "page=2" in query else 1)  # page 2 has rows (a page past the last reads none)
    with count_statements() as few:
        assert client.get(f"/hr/?{query}").status_code == 200
    add(40)
    with count_statements() as many:
        assert client.get(f"/hr/?{query}").status_code == 200
    assert len(few) == len(many), (few, many)


def test_the_export_links_carry_the_filter(app, client, site, hr, now):
    gen_candidate(site, [("passed", now)], name="Only", owner=hr)
    signed_in(client, hr)
    html = client.get("/hr/?site=浦东店&status=active&page=2&per=50", headers=EN).get_data(as_text=True)
    links = re.findall(r'href="(/hr/candidates/export\.(?:csv|xlsx)[^"]*)"', html)
    assert len(links) == 2
    for link in links:
        assert "status=active" in link and "site=" in link and "page=" not in link and "per=" not in link


def test_a_row_links_to_the_list_of_its_site(app, client, site, hr, now):
    gen_candidate(site, [("passed", now)], name="Here", owner=hr, site="浦东店", position="店员")
    gen_candidate(site, [("passed", now)], name="There", owner=hr, site="静安店")
    signed_in(client, hr)
    html = client.get("/hr/?sort=name", headers=EN).get_data(as_text=True)
    link = re.search(r'<a class="quiet" href="([^"]+)">浦东店</a>', html).group(1).replace("&amp;", "&")
    assert "sort=name" in link
    assert listed(client, link.split("?", 1)[1]) == ["Here"]


def test_flag_state_counts_snoozed_flags_as_open(app, site, admin, now):
    candidate = gen_candidate(site, [("passed", now)], name="Snoozed")
    gen_flag(candidate, snoozed_until=now + timedelta(days=2), now=now)
    assert [c.name for c in list_page(admin, ListFilters(flags="open"), now, ZONE, 1, 25).items] == ["Snoozed"]
    assert list_page(admin, ListFilters(flags="none"), now, ZONE, 1, 25).items == []
    assert db.session.query(Flag).count() == 1
