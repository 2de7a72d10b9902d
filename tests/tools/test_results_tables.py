"""The results tables of the README and docs/ are the ones tools.results_tables writes from the
committed raw results: a new result, or an edited table, fails here until the command is run."""
import os

import pytest

from common.errors import InputError
from tools import results_tables as rt


@pytest.mark.parametrize("page", rt.pages(), ids=os.path.basename)
def test_committed_tables_match_the_raw_results(page):
    _, stale = rt.refresh(page)
    assert stale == [], f"stale tables in {page}: {stale}; run python -m tools.results_tables --write"


def test_the_readme_carries_both_glance_tables():
    text = open(os.path.join(rt.ROOT, "README.md"), encoding="utf-8").read()
    assert "<!-- generated: quality-glance -->" in text and "<!-- generated: supernet-glance -->" in text
    assert all(os.path.isfile(os.path.join(rt.ROOT, rt.RESULTS, f, "quality.json")) for f, *_ in rt.QUALITY_ROWS)


def test_a_hand_edited_table_is_found_and_rewritten(tmp_path):
    src = "tools/results/quality_fmnist_1.5ms_controls"
    page = tmp_path / "page.md"
    good = rt.generated(f"quality {src}", str(page))
    page.write_text(f"intro\n<!-- generated: quality {src} -->\n{good.replace('+0.07', '+0.70')}<!-- end generated -->\nafter\n")
    text, stale = rt.refresh(str(page))
    assert stale == [f"quality {src}"]
    assert text == f"intro\n<!-- generated: quality {src} -->\n{good}<!-- end generated -->\nafter\n"
    page.write_text(text)
    assert rt.refresh(str(page))[1] == []


def test_the_glance_row_uses_the_reports_statistics():
    from tools.quality.comparisons import attribution
    report = rt.quality_report("quality_fmnist_1.5ms_controls")
    row = rt.glance_row("quality_fmnist_1.5ms_controls", "m", "", "docs/x.md")
    first = next(r for r in attribution(report["searches"]) if r["comparison"] == "searched − random")
    assert f"{first['mean']:+.2f}".replace("-", "−") in row and "| 5 |" in row


def test_an_unknown_table_is_one_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- generated: nonsense x -->\n<!-- end generated -->\n")
    with pytest.raises(InputError, match="unknown generated table 'nonsense x'"):
        rt.refresh(str(page))


def test_every_committed_benchmark_has_its_generated_table():
    """A new quality.json or supernet.json under tools/results gets its report into a docs page."""
    import glob
    text = "\n".join(open(p, encoding="utf-8").read() for p in rt.pages())
    missing = []
    for kind, name in (("quality", "quality.json"), ("supernet", "supernet.json")):
        for path in glob.glob(os.path.join(rt.ROOT, rt.RESULTS, "**", name), recursive=True):
            folder = os.path.relpath(os.path.dirname(path), rt.ROOT)
            if "/units/" in folder or folder.endswith("/units"):
                continue
            if f"<!-- generated: {kind} {folder} -->" not in text and f" {folder} " not in text.replace("-->", " -->"):
                missing.append(folder)
    assert missing == []
