"""Templates compiled once per locale, with their constant strings already translated.

In plain Jinja, ``{{ _("Your progress") }}`` looks the catalogue up on every render. Here the app's
Jinja environment hands each template lookup to an overlay for the request's locale, and that
overlay translates every ``_("literal")`` while it compiles the template: the compiled page holds
the translation as text. A call with keywords, ``_("Hello, %(name)s", name=x)``, becomes
``("Hallo, %(name)s"|safe) % {"name": x}``: the same escaping Jinja's newstyle gettext applies (the
translation is trusted, the values are escaped) at the cost of one ``%``.

Anything else keeps the runtime translation: ``_()`` of a non-literal, ngettext, templates built
from strings, and rendering outside a request (no locale to choose).
"""

from typing import Any

from flask.templating import Environment as FlaskEnvironment
from flask_babel import force_locale, get_translations
from jinja2.ext import Extension
from jinja2.lexer import Token

from portal.templating import request_locale


class TranslatedEnvironment(FlaskEnvironment):
    """The app's environment: each template is looked up in the overlay for the current locale."""

    locale: str | None = None  # set on a locale's overlay; None on the app's own environment
    translations: Any = None  # the locale's catalogue, on a locale's overlay

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._locale_overlays: dict[str, TranslatedEnvironment] = {}

    def overlay(self, *args: Any, **kwargs: Any) -> "TranslatedEnvironment":
        overlay = super().overlay(*args, **kwargs)
        overlay._locale_overlays = {}  # its own, not the copied dict of the environment it overlays
        return overlay

    def get_template(self, name, parent=None, globals=None):
        return self._current().get_template_here(name, parent, globals)

    def select_template(self, names, parent=None, globals=None):
        return self._current().select_template_here(names, parent, globals)

    def get_template_here(self, name, parent=None, globals=None):
        return super().get_template(name, parent, globals)

    def select_template_here(self, names, parent=None, globals=None):
        return super().select_template(names, parent, globals)

    def _current(self) -> "TranslatedEnvironment":
        locale = request_locale() if self.locale is None else None
        return self if locale is None else self.for_locale(locale)

    def for_locale(self, locale: str) -> "TranslatedEnvironment":
        """The overlay that compiles templates for ``locale`` (made at its first use: filters and
        globals registered on the app's environment are shared with it, extensions are copied then)."""
        overlay = self._locale_overlays.get(locale)
        if overlay is None:
            with force_locale(locale):
                translations = get_translations()
            overlay = self.overlay(cache_size=400, extensions=[ConstantTranslations])
            overlay.locale = locale
            overlay.translations = translations
            self._locale_overlays[locale] = overlay
        return overlay


class ConstantTranslations(Extension):
    """Rewrites ``_("literal"[, name=value ...])`` into its translation while a template is tokenised."""

    def filter_stream(self, stream):
        translations = getattr(self.environment, "translations", None)
        if translations is None:
            return stream
        autoescape = self.environment.autoescape
        if callable(autoescape):
            autoescape = autoescape(stream.name)
        tokens = list(stream)
        return _translate_calls(tokens, translations, bool(autoescape))


_OPENING = {"lparen", "lbracket", "lbrace"}
_CLOSING = {"rparen", "rbracket", "rbrace"}


def _translate_calls(tokens: list[Token], translations, autoescape: bool) -> list[Token]:
    out: list[Token] = []
    index = 0
    while index < len(tokens):
        folded = _fold_call(tokens, index, translations, autoescape)
        if folded is None:
            out.append(tokens[index])
            index += 1
        else:
            replacement, index = folded
            out.extend(replacement)
    return out


def _fold_call(tokens: list[Token], start: int, translations, autoescape: bool):
    """(tokens standing for the translated call at ``start``, index after it), or None to leave it be."""
    window = tokens[start : start + 4]
    if len(window) < 4 or not (window[0].type == "name" and window[0].value == "_"):
        return None
    if start and tokens[start - 1].type == "dot":  # obj._("…") is somebody else's method
        return None
    if window[1].type != "lparen" or window[2].type != "string" or window[3].type not in ("rparen", "comma"):
        return None
    line = window[0].lineno
    text = translations.ugettext(window[2].value)

    def tok(kind: str, value: str) -> Token:
        return Token(line, kind, value)

    def as_text(value: str) -> list[Token]:
        # "…"|safe is folded into a Markup constant by Jinja's compiler, as newstyle gettext marks it.
        string = tok("string", value)
        return (
            [tok("lparen", "("), string, tok("pipe", "|"), tok("name", "safe"), tok("rparen", ")")]
            if autoescape
            else [string]
        )

    if window[3].type == "rparen":
        try:
            value = text % {}  # newstyle gettext always formats: "%%" becomes "%"
        except (KeyError, TypeError, ValueError):
            return None  # a placeholder without its value fails at render time, as before
        return as_text(value), start + 4

    # Keywords: name=value pairs become a dict for %, with the values' tokens kept as they are.
    out = [tok("lparen", "("), *as_text(text), tok("mod", "%"), tok("lbrace", "{")]
    index, depth = start + 4, 0
    while index < len(tokens):
        current = tokens[index]
        if depth == 0 and current.type == "rparen":
            out += [tok("rbrace", "}"), tok("rparen", ")")]
            return out, index + 1
        if depth == 0 and current.type == "name" and index + 1 < len(tokens) and tokens[index + 1].type == "assign":
            if tokens[index - 1].type != "comma":
                return None
            out += [tok("string", current.value), tok("colon", ":")]
            index += 2
            continue
        if depth == 0 and current.type != "comma" and tokens[index - 1].type == "comma":
            return None  # a positional argument after the string: not a call we understand
        if current.type in _OPENING:
            depth += 1
        elif current.type in _CLOSING:
            depth -= 1
        out.append(current)
        index += 1
    return None
