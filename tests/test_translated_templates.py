"""Templates compiled per locale (portal.translated_templates) render what runtime translation renders."""

import pytest

from portal.i18n import LOCALES

SNIPPETS = [
    '{{ _("Your progress") }}',
    '<p title="{{ _(\'This step is on us, not on you\') }}">{{ _("our turn") }}</p>',
    '{{ _("Hello, %(name)s", name=who) }}',
    '{{ _("Call %(phone)s", phone=who ~ "!") }}|{{ _("expected %(date)s", date=[who, 1]|join("-")) }}',
    '{% set greeting = _("Get ready") %}[{{ greeting }}]',
    "{{ _('100%% sure') }}",
    "{{ _(dynamic) }}",
    '{{ _("Hello, %(name)s", name=_("our turn")) }}',
]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("source", SNIPPETS)
def test_a_locales_compiled_template_renders_as_runtime_translation_does(app, locale, source):
    from portal.templating import request_locale

    values = {"who": '<b>O\'Neil & "co"</b>', "dynamic": "Your progress"}
    with app.app_context(), app.test_request_context("/", headers={"Cookie": f"lang={locale}"}):
        runtime = app.jinja_env.from_string(source).render(values)  # the app's environment translates at render
        compiled = app.jinja_env.for_locale(request_locale()).from_string(source).render(values)
    assert compiled == runtime
    assert "<b>" not in compiled  # values stay escaped, as newstyle gettext escapes them


def test_constant_strings_are_translated_while_compiling(app):
    source = '{{ _("Your progress") }} {{ _("Hello, %(name)s", name=who) }} {{ _(dynamic) }}'
    with app.test_request_context("/", headers={"Cookie": "lang=zh_CN"}):
        code = app.jinja_env.for_locale("zh_CN").compile(source, raw=True)
    assert "yield '您的入职进度 '" in code  # translated, and folded into the template's text
    assert code.count("resolve('_')") == 1, code  # only _(dynamic) is left to render time


@pytest.mark.parametrize("locale", LOCALES)
def test_every_template_compiles_in_every_locale(app, locale):
    environment = app.jinja_env.for_locale(locale)
    names = app.jinja_env.list_templates(extensions=["html", "txt", "ics"])
    assert len(names) > 20
    with app.test_request_context("/"):
        for name in names:
            environment.get_template(name)


def test_pages_use_the_environment_of_their_locale(app):
    from flask import render_template

    from portal.templating import request_locale

    # An app context each, as each request has when served (the test's own would share g between them).
    with app.app_context(), app.test_request_context("/", headers={"Cookie": "lang=en"}):
        template = app.jinja_env.get_template("candidate/page.html")
        assert template.environment is app.jinja_env.for_locale(request_locale())
        assert template.environment.locale == "en"
        assert "Your HR contact" in render_template("candidate/_contact.html", candidate={}, hr_hotline="1")
    with app.app_context(), app.test_request_context("/", headers={"Cookie": "lang=zh_CN"}):
        zh = app.jinja_env.get_template("candidate/page.html").environment
        assert zh is app.jinja_env.for_locale(request_locale()) and zh.locale == "zh_Hans_CN"  # babel's name
