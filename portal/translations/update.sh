#!/usr/bin/env bash
# Run after adding or changing any _()/_l()/lazy_gettext() string in portal/ (Python or templates):
#
#     portal/translations/update.sh
#
# It re-extracts messages.pot from the source and merges it into both catalogues (creating any that
# are missing), then compiles them. Afterwards translate every empty msgstr "" in
#     portal/translations/zh_Hans_CN/LC_MESSAGES/messages.po
# (keep %(name)s placeholders as they are). Leave en/LC_MESSAGES/messages.po empty: the English msgid
# is the English text. tests/test_i18n_catalog.py fails while a Chinese translation is missing.
#
# Fuzzy matching is off on purpose: a guessed "close" translation would be shown to candidates as if
# it were right (./dev compiles without --use-fuzzy). Changed msgids come out empty; the old text stays
# at the end of the .po as a "#~" obsolete entry to copy from.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-.venv/bin/python}
PYBABEL=("$PYTHON" -m babel.messages.frontend)
DIR=portal/translations
# Simplified Chinese lives in zh_Hans_CN/, not zh_CN/: Babel parses the app's "zh_CN" as zh_Hans_CN and
# Flask-Babel only looks in zh_Hans_CN/ (then zh/). A zh_CN/ folder is silently never loaded.
LOCALES=(zh_Hans_CN en)
# Keywords besides Babel's defaults (_, gettext, ngettext, pgettext, ...). tests/test_i18n_catalog.py reads this line.
KEYWORDS=(-k _l -k lazy_gettext)

"${PYBABEL[@]}" -q extract -F babel.cfg "${KEYWORDS[@]}" --add-comments=Translators: \
  --add-location=file --sort-by-file --no-wrap --project=Keepwarm \
  -o "$DIR/messages.pot" .  # Babel skips dot-directories such as .venv and .git by default.

for locale in "${LOCALES[@]}"; do
  "${PYBABEL[@]}" -q update -i "$DIR/messages.pot" -d "$DIR" -D messages -l "$locale" \
    --init-missing --no-fuzzy-matching --no-wrap --ignore-pot-creation-date
done

# Statistics: zh_Hans_CN must say 100%; en stays at 0% by design (empty msgstr = show the English msgid).
"${PYBABEL[@]}" compile -d "$DIR" -D messages --statistics
