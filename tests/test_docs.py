"""The documentation cannot drift: generated pages match the code, rendered tables match the
records in bench/results/, and every relative link in README.md and docs/ leads somewhere."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

from bench import check_results, render_results

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
RECORD_FIELDS = {"measured", "condition", "metrics", "commands", "commit", "date", "machine", "load"}


def script(path: str):
    """A script of the repository (not a package module), imported by its path."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def stale(pages: dict[Path, tuple[str, str]]) -> list[str]:
    return [str(path.relative_to(ROOT)) for path, (now, wanted) in pages.items() if now != wanted]


def test_cli_reference_and_settings_table_match_the_code():
    pages = script("docs/generate_reference.py").generated_pages()
    assert {path.name for path in pages} == {"cli.md", "configuration.md"}
    assert not stale(pages), "run: .venv/bin/python docs/generate_reference.py"


def test_every_number_fixed_in_a_module_is_in_the_constants_table_or_left_out_with_a_reason():
    reference = script("docs/generate_reference.py")
    found = {f"{module}.{name}" for module, name, _, _ in reference.fixed_constants()}
    page = (ROOT / "docs" / "configuration.md").read_text()
    listed = {f"{module}.{name}" for module, name in re.findall(r"^\| `(qa[\w.]*)` \| `(\w+)` \|", page, re.M)}
    assert found == listed | set(reference.NOT_TUNING), "run: .venv/bin/python docs/generate_reference.py"
    assert not listed & set(reference.NOT_TUNING)
    assert all(reason.strip() for reason in reference.NOT_TUNING.values())
    # A plain look at the sources, apart from the generator's: each public name set to a number at
    # the top of a module (`A = 16`, `A, B = 1, 2`, `A: float = 0.5`) is among those it found.
    for path in (ROOT / "src" / "qa").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT / "src").with_suffix("").parts)
        for names in re.findall(r"^([A-Z][A-Z0-9_]*(?:, *[A-Z][A-Z0-9_]*)*)(?: *:[^=\n]+)? *= *-?\d",
                                path.read_text(), re.M):
            assert {f"{module}.{name.strip()}" for name in names.split(",")} <= found, path


def test_cli_reference_has_every_command():
    reference = (ROOT / "docs" / "cli.md").read_text()
    for command in ("index", "search", "ask", "verify", "show", "serve", "eval"):
        assert f"## qa {command}\n" in reference
        assert f"usage: qa {command} " in reference


def test_results_tables_match_their_records():
    assert not stale(render_results.rendered_pages()), \
        "run: .venv/bin/python -m bench.render_results"


def test_the_readme_summary_shows_only_what_qa_ships_now():
    records = render_results.load_records()
    past = [name for name, *_ in render_results.SUMMARY
            if records[name].get("current") is False or isinstance(check_results.check_of(records[name]), str)]
    assert not past, f"README's summary quotes past records {past}: point bench/render_results.py at current ones"


@pytest.mark.parametrize("record", sorted((ROOT / "bench" / "results").glob("*.yaml")), ids=lambda p: p.stem)
def test_each_result_record_says_how_it_was_measured(record):
    fields = yaml.safe_load(record.read_text())
    assert RECORD_FIELDS <= set(fields)
    assert fields["commands"] and fields["metrics"]
    assert re.fullmatch(r"[0-9a-f]{7,40}", fields["commit"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", fields["date"])
    check = check_results.check_of(fields)  # a sentence (why it is not rerun) or how to rerun it
    assert isinstance(check, str) or not any(re.search(r"\b(DIR|SET|WORKTREE_OF_\w+)\b", c) for c in check.commands)


def test_a_rerun_passes_within_the_tolerance_and_reports_timings_without_judging_them():
    verdicts = check_results.compare({"hit@1": 0.929, "span@1": 0.571, "build_s": 1.4, "quote@1": 0.9},
                                     {"hit@1": 0.928571, "span@1": 0.5, "build_s": 9.0}, tolerance=0.002)
    assert [v.status for v in verdicts] == ["OK", "FAIL", "INFO", "MISSING"]


def links(page: Path) -> list[str]:
    """The link targets of a Markdown page, outside fenced code blocks and code spans."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)
    return LINK.findall(text)


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#{1,6} (.+)$", text, re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_to_files_that_exist(page):
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"


def test_readme_is_short_and_shows_the_chat():
    readme = (ROOT / "README.md").read_text()
    assert readme.count("\n") <= 150
    assert "](docs/images/chat.png)" in readme
    assert "make run" in readme and "make test" in readme


def test_setup_installs_within_the_measured_versions_and_a_cpu_torch():
    """The records' environment (constraints.txt) is what `make setup` installs: no package
    unpinned, the torch of the Makefile's CPU install, and none of the CUDA wheels."""
    pins = [line for line in (ROOT / "constraints.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[\w.+!\-]+", line) for line in pins), pins
    names = {line.split("==")[0].lower() for line in pins}
    assert "torch==2.13.0" in pins and "torch==2.13.0" in (ROOT / "Makefile").read_text()
    assert not {name for name in names if name.startswith("nvidia") or name == "qa"}
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()
