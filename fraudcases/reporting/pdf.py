"""ReportLab plumbing shared by the case report and the suspicious-activity PDF.

Fonts: DejaVu Sans / Sans Mono from ``REPORT_FONT_DIR`` (Debian's ``fonts-dejavu-core``),
embedded in the PDF so every script an account or a note may contain prints; without them the
built-in Helvetica / Courier (Latin-1 only; other characters print as "?").
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

MARGIN = 15 * mm
PAGE_WIDTH = A4[0] - 2 * MARGIN


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str
    mono: str
    unicode: bool


@cache
def fonts() -> Fonts:
    """Register the DejaVu fonts once per process (or fall back to the built-in ones)."""
    folder = Path(settings.REPORT_FONT_DIR)
    files = {
        "FCSans": folder / "DejaVuSans.ttf",
        "FCSans-Bold": folder / "DejaVuSans-Bold.ttf",
        "FCMono": folder / "DejaVuSansMono.ttf",
    }
    if all(path.is_file() for path in files.values()):
        for name, path in files.items():
            pdfmetrics.registerFont(TTFont(name, str(path)))
        return Fonts("FCSans", "FCSans-Bold", "FCMono", True)
    return Fonts("Helvetica", "Helvetica-Bold", "Courier", False)


def text(value: Any) -> str:
    """A value as Paragraph markup: escaped, newlines kept, unprintable characters replaced
    when only the built-in fonts are available."""
    s = "" if value is None else str(value)
    if not fonts().unicode:
        s = s.encode("latin-1", "replace").decode("latin-1")
    return escape(s).replace("\n", "<br/>")


class Styles:
    def __init__(self) -> None:
        f = fonts()
        base = {"fontName": f.regular, "fontSize": 8.5, "leading": 11, "alignment": TA_LEFT}
        self.body = ParagraphStyle("body", **base)
        self.small = ParagraphStyle("small", **(base | {"fontSize": 7.5, "leading": 9.5}))
        self.mono = ParagraphStyle(
            "mono", **(base | {"fontName": f.mono, "fontSize": 6.5, "leading": 8})
        )
        self.cell = ParagraphStyle("cell", **(base | {"fontSize": 7.5, "leading": 9.5}))
        self.head = ParagraphStyle(
            "head", **(base | {"fontName": f.bold, "fontSize": 7.5, "leading": 9.5})
        )
        self.h1 = ParagraphStyle(
            "h1", **(base | {"fontName": f.bold, "fontSize": 15, "leading": 19, "spaceAfter": 4})
        )
        self.h2 = ParagraphStyle(
            "h2",
            **(
                base
                | {
                    "fontName": f.bold,
                    "fontSize": 11,
                    "leading": 14,
                    "spaceBefore": 9,
                    "spaceAfter": 4,
                    "keepWithNext": 1,
                    "textColor": colors.HexColor("#1f3a5f"),
                }
            ),
        )


class Document:
    """A report under construction: headings, paragraphs, key-value blocks and tables."""

    def __init__(self, *, title: str, subject: str, footer: str) -> None:
        self.title = title
        self.subject = subject
        self.footer = footer
        self.s = Styles()
        self.flow: list[Any] = []

    def h1(self, value: str) -> None:
        self.flow.append(Paragraph(text(value), self.s.h1))

    def h2(self, value: str) -> None:
        self.flow.append(Paragraph(text(value), self.s.h2))

    def para(self, value: str, *, style: str = "body") -> None:
        self.flow.append(Paragraph(text(value), getattr(self.s, style)))

    def space(self, height: float = 4) -> None:
        self.flow.append(Spacer(1, height))

    def fields(self, pairs: Iterable[tuple[str, Any]]) -> None:
        """A two-column block of labels and values."""
        rows = []
        for label, value in pairs:
            shown = "—" if value in (None, "") else value
            rows.append([Paragraph(text(label), self.s.head), Paragraph(text(shown), self.s.cell)])
        if rows:
            table = Table(rows, colWidths=[45 * mm, PAGE_WIDTH - 45 * mm])
            table.setStyle(
                TableStyle(
                    [
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d8dde6")),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                        ("TOPPADDING", (0, 0), (-1, -1), 2),
                    ]
                )
            )
            self.flow.append(table)

    def table(
        self,
        header: list[str],
        rows: list[list[Any]],
        widths: list[float],
        *,
        empty: str = "None.",
        mono_columns: Iterable[int] = (),
        spans: list[tuple[int, str]] | None = None,
    ) -> None:
        """A table with a repeated header row. ``widths`` are shares of the page width.
        ``spans``: (row index, text) rows added under a data row, spanning every column
        (used for the audit chain's MACs)."""
        if not rows:
            self.para(empty, style="small")
            return
        mono = set(mono_columns)
        total = sum(widths)
        col_widths = [PAGE_WIDTH * w / total for w in widths]
        data = [[Paragraph(text(h), self.s.head) for h in header]]
        style = [
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf4")),
            ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d8dde6")),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ]
        extra = dict(spans or [])
        for i, row in enumerate(rows):
            data.append(
                [
                    Paragraph(text(v), self.s.mono if j in mono else self.s.cell)
                    for j, v in enumerate(row)
                ]
            )
            if i in extra:
                data.append([Paragraph(text(extra[i]), self.s.mono)] + [""] * (len(header) - 1))
                r = len(data) - 1
                style.append(("SPAN", (0, r), (-1, r)))
                style.append(("LINEBELOW", (0, r - 1), (-1, r - 1), 0, colors.white))
        table = Table(data, colWidths=col_widths, repeatRows=1)
        table.setStyle(TableStyle(style))
        self.flow.append(table)

    def keep(self, *items: Any) -> None:
        self.flow.append(KeepTogether(list(items)))

    def render(self) -> bytes:
        buffer = io.BytesIO()
        f = fonts()

        def decorate(canvas, doc) -> None:
            canvas.saveState()
            canvas.setFont(f.regular, 7)
            canvas.setFillColor(colors.HexColor("#555555"))
            footer = self.footer if f.unicode else self.footer.encode("latin-1", "replace").decode()
            canvas.drawString(MARGIN, 8 * mm, footer)
            canvas.drawRightString(A4[0] - MARGIN, 8 * mm, f"Page {doc.page}")
            canvas.restoreState()

        doc = SimpleDocTemplate(
            buffer,
            pagesize=A4,
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=MARGIN,
            bottomMargin=16 * mm,
            title=self.title,
            subject=self.subject,
            author="fraudcases",
            creator="fraudcases (ReportLab)",
        )
        doc.build(self.flow, onFirstPage=decorate, onLaterPages=decorate)
        return buffer.getvalue()
