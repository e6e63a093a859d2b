"""Notes are Markdown rendered to HTML and sanitised by nh3 (bleach is deprecated upstream)."""

from __future__ import annotations

import pytest
from django.test import Client

from fraudcases.templatetags.casework import render_markdown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**bold** and *em*", "<p><strong>bold</strong> and <em>em</em></p>"),
        (
            "see https://example.com/a?b=1. ok",
            '<p>see <a href="https://example.com/a?b=1" rel="nofollow noopener">'
            "https://example.com/a?b=1</a>. ok</p>",
        ),
        ("`http://code.example`", "<p><code>http://code.example</code></p>"),
        (
            "[x](https://example.com/p)",
            '<p><a href="https://example.com/p" rel="nofollow noopener">x</a></p>',
        ),
        ("[x](javascript:alert(1))", '<p><a rel="nofollow noopener">x</a></p>'),
        ("<script>alert(1)</script>ok", "\n<p>ok</p>"),
        ("<img src=x onerror=alert(1)>", "<p></p>"),
        (
            "<a href='https://e.com' onclick='x()'>e</a>",
            '<p><a href="https://e.com" rel="nofollow noopener">e</a></p>',
        ),
        ('<p style="color:red" class="x">t</p>', "<p>t</p>"),
        (
            "**https://e.com/x** and https://e.com/a_b_c",
            '<p><strong><a href="https://e.com/x" rel="nofollow noopener">https://e.com/x</a>'
            '</strong> and <a href="https://e.com/a_b_c" rel="nofollow noopener">'
            "https://e.com/a_b_c</a></p>",
        ),
        (
            "<em>https://e.com/in-html</em>",
            '<p><em><a href="https://e.com/in-html" rel="nofollow noopener">'
            "https://e.com/in-html</a></em></p>",
        ),
        ("```\nhttps://e.com/in-code\n```", "<pre><code>https://e.com/in-code\n</code></pre>"),
    ],
)
def test_markdown_is_rendered_and_sanitised(text, expected):
    assert str(render_markdown(text)) == expected


def test_no_attribute_or_tag_outside_the_allow_list_survives():
    html = str(render_markdown('<iframe src="https://e.com"></iframe><form><input></form>'))
    assert "<iframe" not in html and "<form" not in html and "<input" not in html


@pytest.mark.django_db
def test_csp_comes_from_django_csp_and_the_api_docs_are_exempt(make_user):
    client = Client()
    page = client.get("/accounts/login/")
    policy = page["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    client.force_login(make_user("investigator", "docs-reader"))
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and "Content-Security-Policy" not in docs.headers
