"""Every translatable string in portal/ has a Chinese translation, and no translation breaks its placeholders.

The messages are extracted from the source at test time (babel.cfg, with the keywords update.sh passes),
so a new _("...") in a template or _l("...") in Python fails here until the catalogue is updated.
"""

import re
from collections import Counter
from pathlib import Path

import pytest
from babel import Locale
from babel.messages import frontend
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "portal" / "translations"
UPDATE_SCRIPT = TRANSLATIONS / "update.sh"
# The app asks for "zh_CN" (BABEL_DEFAULT_LOCALE); Babel looks the catalogue up under its canonical name.
ZH_DIR = str(Locale.parse("zh_CN"))  # "zh_Hans_CN"
ZH_PO = TRANSLATIONS / ZH_DIR / "LC_MESSAGES" / "messages.po"
EN_PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"

HOW_TO_FIX = (
    "\n\nTo fix, run from the repository root:\n"
    "    portal/translations/update.sh\n"
    f"then translate each empty msgstr \"\" in {ZH_PO.relative_to(ROOT)} (delete any '#, fuzzy' line,\n"
    "keep %(name)s placeholders exactly; leave the en catalogue empty) and run the tests again."
)

# %(name)s, %s, %d, %.1f, %% ... : whatever Python's %-formatting (and Jinja's newstyle gettext) will act on.
CONVERSION = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[hlL]?[diouxXeEfFgGcrsa%]")


def _keywords() -> dict:
    """Babel's default keywords plus the -k ones update.sh passes, so the test and the script never disagree."""
    line = re.search(r"^KEYWORDS=\((.*)\)$", UPDATE_SCRIPT.read_text(encoding="utf-8"), re.M)
    assert line, f"{UPDATE_SCRIPT.relative_to(ROOT)} must define KEYWORDS=(-k ...)"
    extra = re.findall(r"-k\s+(\S+)", line.group(1))
    return {**DEFAULT_KEYWORDS, **dict.fromkeys(extra)}


def _extracted() -> dict:
    """(msgid, msgctxt) -> list of "file:line" where the source uses it."""
    parse = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping  # Babel < 2.15
    with open(ROOT / "babel.cfg", encoding="utf-8") as fileobj:
        method_map, options_map = parse(fileobj)
    found: dict = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=_keywords()
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault((message, context), []).append(f"{filename}:{lineno}")
    return found


def _forms(value) -> list[str]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _placeholder_problem(msgid, msgstr) -> str | None:
    """Why msgstr would format differently from msgid, or None when its conversions match."""
    ids = [text for text in _forms(msgid) if text]
    wanted_named = {c for text in ids for c in CONVERSION.findall(text) if c.startswith("%(")}
    wanted_other = Counter(c for c in CONVERSION.findall(ids[0]) if not c.startswith("%("))
    for text in _forms(msgstr):
        if not text:
            continue
        if "%" in CONVERSION.sub("", text):
            return f"stray '%' in {text!r} (write %% for a literal percent sign)"
        named = {c for c in CONVERSION.findall(text) if c.startswith("%(")}
        other = Counter(c for c in CONVERSION.findall(text) if not c.startswith("%("))
        if named != wanted_named and not (len(ids) > 1 and named <= wanted_named):
            return f"placeholders {sorted(named)} in {text!r}, expected {sorted(wanted_named)}"
        if other != wanted_other and len(ids) == 1:
            return f"conversions {sorted(other.elements())} in {text!r}, expected {sorted(wanted_other.elements())}"
    return None


def _load(path: Path, locale: str):
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing.{HOW_TO_FIX}"
    with open(path, "rb") as fileobj:
        return read_po(fileobj, locale=locale)


def _show(key, where) -> str:
    message, context = key
    text = message if isinstance(message, str) else " | ".join(message)
    return f"  {text!r}" + (f" [context {context!r}]" if context else "") + f"   ({', '.join(sorted(set(where)))})"


def test_every_string_has_a_chinese_translation_with_the_same_placeholders():
    extracted = _extracted()
    assert extracted, "nothing was extracted: check babel.cfg and the keywords in update.sh"
    catalog = _load(ZH_PO, ZH_DIR)

    missing, fuzzy, broken = [], [], []
    for key, where in sorted(extracted.items(), key=lambda item: item[1][0]):
        message, context = key
        entry = catalog.get(message, context=context)
        if entry is None or not all(form and form.strip() for form in _forms(entry.string)):
            missing.append(_show(key, where))
        elif entry.fuzzy:
            fuzzy.append(_show(key, where))
        elif problem := _placeholder_problem(message, entry.string):
            broken.append(_show(key, where) + f"\n      {problem}")

    report = []
    if missing:
        report.append(f"{len(missing)} string(s) have no Chinese translation:\n" + "\n".join(missing))
    if fuzzy:
        report.append(f"{len(fuzzy)} Chinese translation(s) are marked fuzzy (unchecked):\n" + "\n".join(fuzzy))
    if broken:
        report.append(f"{len(broken)} Chinese translation(s) do not match their placeholders:\n" + "\n".join(broken))
    if report:
        pytest.fail("\n\n".join(report) + HOW_TO_FIX, pytrace=False)


def test_english_overrides_if_any_keep_their_placeholders():
    """The en catalogue is empty on purpose (the msgid is the English text); any override must still format."""
    catalog = _load(EN_PO, "en")
    broken = [
        f"  {entry.id!r}: {problem}"
        for entry in catalog
        if entry.id and (problem := _placeholder_problem(entry.id, entry.string))
    ]
    if broken:
        pytest.fail(
            f"English overrides in {EN_PO.relative_to(ROOT)} break placeholders:\n" + "\n".join(broken), pytrace=False
        )
