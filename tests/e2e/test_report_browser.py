"""The HTML compliance report as a user sees it: rendered by a real headless Chromium (no cluster needed)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import time
import zlib
from collections import Counter
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tenant_operator.versions.report import build_report, render_html

pytestmark = pytest.mark.e2e

CHROMIUM = "chromium"
# Quiet and offline: no first-run UI, no background fetches, a fresh profile per run.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")
BAR_COLOUR = (0x2B, 0x6C, 0xB0)  # svg .bar { fill: #2b6cb0 } in report.html.j2
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def tenant(name: str, display_name: str, *products: tuple[str, str, str]) -> dict[str, Any]:
    items = [{"product": product, "version": version, "namespace": name, "deployment": product,
              "compliance": compliance, "endOfLife": "2026-01-31" if version == "1.0.0" else None}
             for product, version, compliance in products]
    status = {"versions": {"products": items}} if items else {}
    return {"metadata": {"name": name}, "spec": {"displayName": display_name}, "status": status}


TENANTS = [
    tenant("t1", "Shop One", ("web", "1.0.0", "NonCompliant"), ("api", "3.1.0", "Compliant")),
    tenant("t2", "Shop Two", ("web", "1.1.0", "InGracePeriod")),
    tenant("t3", "Shop Three", ("web", "1.1.0", "Compliant"), ("api", "3.1.0", "Compliant")),
    tenant("t4", "Shop Four", ("web", "1.1.0", "Compliant")),
    tenant("t5", "<script>document.title='owned'</script>", ("web", "2.0.0", "Compliant")),
    tenant("t6", "Shop Six", ("web", "2.0.0", "Compliant")),
    tenant("t7", "Nothing tracked"),
    tenant("t8", "Shop Eight", ("web", "1.10.0", "Compliant")),
]
EXPECTED_BARS = [("api", "3.1.0", "2"), ("web", "1.0.0", "1"), ("web", "1.1.0", "3"), ("web", "1.10.0", "1"),
                 ("web", "2.0.0", "2")]
# 8 tenants: t1 non-compliant and on an EOL version, t2 in grace, the other six compliant.
EXPECTED_SHARES = {"share-compliant": "75.0%", "share-grace": "12.5%", "share-noncompliant": "12.5%",
                   "share-eol": "12.5%"}


def chromium() -> str:
    found = shutil.which(CHROMIUM)
    if found is None:
        pytest.fail("chromium is not installed: the HTML report's browser test needs Debian's Chromium "
                    "(DEBIAN_FRONTEND=noninteractive apt-get install -y chromium); .ci/run installs it")
    return found


def run_chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    profile.mkdir()
    started = time.monotonic()
    result = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                            capture_output=True, text=True, timeout=120)
    print(f"chromium {args[0]} took {time.monotonic() - started:.2f}s")
    assert result.returncode == 0, f"chromium failed ({result.returncode}):\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_html(build_report(TENANTS, now=NOW)), encoding="utf-8")
    return path


class RenderedDom(HTMLParser):
    """What the browser built: the bars, the text of elements with an id, and every tag name."""

    def __init__(self) -> None:
        super().__init__()
        self.bars: list[tuple[str | None, str | None, str | None]] = []
        self.text_by_id: dict[str, str] = {}
        self.tags: Counter[str] = Counter()
        self.titles: list[str] = []  # the page's, then one per bar (its tooltip)
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags[tag] += 1
        if "bar" in (attributes.get("class") or "").split():
            self.bars.append((attributes.get("data-product"), attributes.get("data-version"),
                              attributes.get("data-count")))
        if tag == "title":
            self.titles.append("")
        self._open = attributes.get("id") or ("title" if tag == "title" else None)

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open == "title":
            self.titles[-1] += data
        elif self._open:
            self.text_by_id[self._open] = self.text_by_id.get(self._open, "") + data


def test_the_browser_shows_a_bar_per_version_and_the_summary(page: Path, tmp_path: Path) -> None:
    dom_text = run_chromium(page, tmp_path, "--dump-dom").stdout
    dom = RenderedDom()
    dom.feed(dom_text)
    assert dom.bars == EXPECTED_BARS, dom_text[:3000]
    assert {key: dom.text_by_id.get(key) for key in EXPECTED_SHARES} == EXPECTED_SHARES
    assert dom.text_by_id.get("tenants") == "8"
    # The hostile display name is text in a cell, not a script element, and nothing ran.
    assert dom.tags["script"] == 0 and dom.titles[0] == "Tenant compliance report"
    assert "&lt;script&gt;document.title='owned'&lt;/script&gt;" in dom_text
    assert dom.titles[1:] == [f"{product} {version}: {count}" for product, version, count in EXPECTED_BARS]


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB or RGBA PNG (stdlib only: Pillow is not a dependency)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, b"", b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        position += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, (depth, colour_type, interlace)
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]), previous, channels)
        rows.append(row)
        previous = row
    return width, height, [bytes(_pixels(row, channels)) for row in rows]


def unfilter(kind: int, line: bytearray, previous: bytes, bpp: int) -> bytes:
    if kind == 0:
        return bytes(line)
    if kind == 2:
        return bytes((a + b) & 0xFF for a, b in zip(line, previous))
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        else:
            up, up_left = previous[i], previous[i - bpp] if i >= bpp else 0
            estimate = left + up - up_left
            distances = (abs(estimate - left), abs(estimate - up), abs(estimate - up_left))
            line[i] = (line[i] + (left, up, up_left)[distances.index(min(distances))]) & 0xFF
    return bytes(line)


def _pixels(row: bytes, channels: int) -> bytes:
    """RGB only: the alpha channel of a screenshot is opaque anyway."""
    return row if channels == 3 else bytes(b for i, b in enumerate(row) if i % 4 != 3)


def colour_counts(rows: list[bytes]) -> Counter[tuple[int, int, int]]:
    counts: Counter[tuple[int, int, int]] = Counter()
    for row in rows:
        counts.update(zip(row[0::3], row[1::3], row[2::3]))
    return counts


def test_the_screenshot_shows_the_chart(page: Path, tmp_path: Path) -> None:
    screenshot = tmp_path / "report.png"
    run_chromium(page, tmp_path, f"--screenshot={screenshot}", "--window-size=1200,900")
    assert screenshot.exists(), "chromium wrote no screenshot"
    width, height, rows = png_pixels(screenshot.read_bytes())
    assert (width, height) == (1200, 900)
    colours = colour_counts(rows)
    assert len(colours) > 10, f"a blank page: {colours.most_common(3)}"
    # Bars are 48 px wide and the tallest of each product 160 px: api 2/2 of that, web (1 + 3 + 1 + 2)/3.
    bar_area = 48 * 160 * (2 / 2 + 7 / 3)
    assert colours[BAR_COLOUR] > 0.95 * bar_area, f"bar colour on {colours[BAR_COLOUR]} of {bar_area:.0f} pixels"
