"""Rerun a results record (bench/results/NAME.yaml) and check today's figures against it.

A record's `commands` are shell lines run in order from the repository root; its `check` says
which JSON file they write (`output`), where the figures sit in it (`at`, a list of keys), the
name of a figure there when it is not the record's (`names`: a key, or a list of keys under `at`)
and, optionally, how far a figure may move (`tolerance`). A record whose `check` is a sentence
is a past condition (older code, a model copy not kept): it is listed, never rerun.

Quality figures (hit@1, quote@1, recall@10 …) pass within the tolerance, by default 0.002: a
little more than the rounding of a three-decimal figure, less than one question in 300.
Figures in seconds, milliseconds or MiB (names ending in _s, _ms, _mib) depend on the machine and
its load: they are reported beside the record's with their ratio, never judged.

    .venv/bin/python -m bench.check_results --list              # every record: rerun or past, and why
    .venv/bin/python -m bench.check_results news-dev            # rerun one record
    .venv/bin/python -m bench.check_results news-dev --dry-run  # print its commands only
    .venv/bin/python -m bench.check_results --all               # every record that is rerun (hours)

Exit status: 0 when every figure checked is OK, 1 when one FAILs or a command fails, 2 for a
name that is no record or a record that cannot be rerun.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.paths import ROOT
from bench.render_results import RECORDS, load_records

DEFAULT_TOLERANCE = 0.002
MEASURED_ON_A_MACHINE = ("_s", "_ms", "_mib")  # timings and memory: reported, not judged


@dataclass(frozen=True)
class Check:
    """How to rerun one record: its commands, the JSON they write, and where its figures are."""

    commands: tuple[str, ...]
    output: Path
    at: tuple = ()
    names: dict = field(default_factory=dict)
    tolerance: float = DEFAULT_TOLERANCE

    def path_of(self, metric: str) -> tuple:
        """The keys leading from the output's top to `metric`."""
        name = self.names.get(metric, metric)
        return (*self.at, *(name if isinstance(name, list) else [name]))


@dataclass(frozen=True)
class Verdict:
    metric: str
    recorded: float
    found: float | None
    status: str  # OK, FAIL, MISSING or INFO

    def line(self, tolerance: float) -> str:
        text = f"  {self.status:<7} {self.metric:<24} {_figure(self.found):>9}  record {_figure(self.recorded)}"
        if self.status == "INFO" and self.found is not None and self.recorded:
            return text + f"  (×{self.found / self.recorded:.2f}; measured on a machine: not judged)"
        return text + (f"  (±{tolerance:g})" if self.status in ("OK", "FAIL") else "")


def _figure(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:g}" if float(value).is_integer() else f"{value:.3f}"


def check_of(record: dict) -> Check | str:
    """The record's check, or the sentence saying why it is not rerun; ValueError if malformed."""
    check = record.get("check")
    if isinstance(check, str):
        return check
    if not isinstance(check, dict) or "output" not in check:
        raise ValueError("`check` must be a sentence (why it is not rerun) or a mapping with `output`")
    if unknown := set(check) - {"output", "at", "names", "tolerance"}:
        raise ValueError(f"`check` has unknown fields: {', '.join(sorted(unknown))}")
    names = check.get("names") or {}
    if unknown := set(names) - set(record["metrics"]):
        raise ValueError(f"`check.names` names figures the record lacks: {', '.join(sorted(unknown))}")
    return Check(commands=tuple(record["commands"]), output=Path(check["output"]), at=tuple(check.get("at") or ()),
                 names=names, tolerance=float(check.get("tolerance", DEFAULT_TOLERANCE)))


def judged(metric: str) -> bool:
    return not metric.endswith(MEASURED_ON_A_MACHINE)


def lookup(data, path: tuple):
    """The value at `path` (keys of dicts, indexes of lists) in `data`, or None where there is none."""
    for key in path:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def compare(recorded: dict[str, float], found: dict[str, float | None], tolerance: float) -> list[Verdict]:
    """One verdict a recorded figure: OK or FAIL within `tolerance`, INFO for timings and memory,
    MISSING where the rerun did not produce it."""
    verdicts = []
    for metric, value in recorded.items():
        now = found.get(metric)
        if now is None or (isinstance(now, float) and math.isnan(now)):
            verdicts.append(Verdict(metric, value, None, "MISSING"))
        elif not judged(metric):
            verdicts.append(Verdict(metric, value, now, "INFO"))
        else:
            # A hair over the tolerance still passes: 0.931 - 0.929 is 0.0020000000000000018.
            verdicts.append(Verdict(metric, value, now, "OK" if abs(now - value) <= tolerance + 1e-9 else "FAIL"))
    return verdicts


def run_commands(check: Check, dry_run: bool) -> bool:
    """Run the commands in a shell from the repository root, their output on stderr; False if one fails."""
    for line in check.commands:
        print(f"$ {line}", flush=True)
        if dry_run:
            continue
        if subprocess.run(line, shell=True, cwd=ROOT, stdout=sys.stderr).returncode:
            print("  FAIL    the command above exited with an error", flush=True)
            return False
    return True


def check_record(name: str, record: dict, dry_run: bool = False, done: set | None = None) -> bool:
    """Rerun one record and print a verdict a figure; True when nothing FAILs. Commands already
    run in this process (`done`: the same lines for another record) are not run again."""
    check = check_of(record)
    print(f"== {name}: {record['measured']} ({record['condition']})")
    done = set() if done is None else done
    if check.commands not in done:
        if not run_commands(check, dry_run):
            return False
        done.add(check.commands)
    if dry_run:
        print(f"  figures from {check.output}")
        return True
    output = ROOT / check.output
    if not output.is_file():
        print(f"  FAIL    the commands wrote no {check.output}")
        return False
    data = json.loads(output.read_text())
    found = {metric: lookup(data, check.path_of(metric)) for metric in record["metrics"]}
    verdicts = compare(record["metrics"], found, check.tolerance)
    for verdict in verdicts:
        print(verdict.line(check.tolerance))
    failed = [v for v in verdicts if v.status in ("FAIL", "MISSING")]
    checked = [v for v in verdicts if v.status != "INFO"]
    print(f"{name}: {'FAIL' if failed else 'OK'} ({len(checked) - len(failed)} of {len(checked)} figures "
          f"within ±{check.tolerance:g}; {len(verdicts) - len(checked)} timings reported)", flush=True)
    return not failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help="records to rerun (bench/results/NAME.yaml)")
    parser.add_argument("--all", action="store_true", help="rerun every record that is not past")
    parser.add_argument("--list", action="store_true", help="list the records and whether each is rerun")
    parser.add_argument("--dry-run", action="store_true", help="print the commands; run nothing")
    args = parser.parse_args(argv)
    records = load_records()
    checks = {}
    for name, record in records.items():
        try:
            checks[name] = check_of(record)
        except ValueError as error:
            parser.error(f"{RECORDS.relative_to(ROOT)}/{name}.yaml: {error}")
    if args.list:
        for name, check in checks.items():
            print(f"{name:<46} {'rerun' if isinstance(check, Check) else check}")
        return 0
    if not args.names and not args.all:
        parser.error("name a record, or give --all or --list")
    names = [n for n, c in checks.items() if isinstance(c, Check)] if args.all else args.names
    for name in names:
        if name not in records:
            parser.error(f"no record {RECORDS.relative_to(ROOT)}/{name}.yaml (--list shows them)")
        if isinstance(checks[name], str):
            parser.error(f"{name} is not rerun: {checks[name]}")
    done: set = set()
    results = [check_record(name, records[name], args.dry_run, done) for name in names]
    if len(names) > 1:
        print(f"\n{sum(results)} of {len(names)} records OK")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
