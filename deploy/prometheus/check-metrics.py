#!/usr/bin/env python3
"""Checks the Grafana dashboard's structure, and that the dashboard and the alert rules use only
metrics `csp-app watch` exports (deploy/validate runs it; standard library only).

- sam-watch.dashboard.json: valid JSON; a title, a uid, a schemaVersion and a list of panels;
  every panel has a unique id, a type, a title, a gridPos (x, y, w, h; within the 24 columns), a
  Prometheus datasource and at least one target with an `expr` and a unique refId;
- every `sam_*` name in the dashboard's expressions and in sam-watch.rules.yml is a metric the
  watch renders (the quoted `sam_*` names of crates/csp-app/src/watch/metrics.rs);
- every metric the watch exports is documented in crates/csp-app/README.md ("Metrics");
- every label the rules or the dashboard name in `by (...)`, `on (...)` or `{{ $labels.x }}` /
  `{{x}}` is one the watch exports.
Exits 1 with one line per problem.
"""
import json
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
METRICS_RS = ROOT / "crates/csp-app/src/watch/metrics.rs"
README = ROOT / "crates/csp-app/README.md"
CHECKS_RS = ROOT / "crates/csp-app/src/watch/checks.rs"
# Label names of the exposition: metrics.rs renders check/result/operation; checks.rs gives the
# gauges theirs (`Sample::new(name, &[("label", ...)])`).
LABEL_SOURCES = [METRICS_RS, CHECKS_RS]
NAME = re.compile(r"\bsam_[a-z0-9_]+\b")
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}

problems = []


def exported_metrics():
    return set(re.findall(r'"(sam_[a-z0-9_]+)"', METRICS_RS.read_text()))


def exported_labels():
    labels = set()
    for path in LABEL_SOURCES:
        text = path.read_text()
        labels |= set(re.findall(r'\(\s*"([a-z_]+)"\s*,', text))
    return labels


def check_names(where, text, metrics):
    for name in sorted(set(NAME.findall(text))):
        if name not in metrics:
            problems.append(f"{where}: {name} is not a metric the watch exports")


def check_labels(where, text, labels):
    used = set()
    for group in re.findall(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)", text):
        used |= {l.strip() for l in group.split(",") if l.strip()}
    used |= set(re.findall(r"\$labels\.([a-z_]+)", text))
    used |= set(re.findall(r"\{\{\s*([a-z_]+)\s*\}\}", text))
    used |= set(re.findall(r"\b([a-z_]+)\s*=~?\s*\"", text))
    for label in sorted(used - labels - PROMQL_KEYWORDS - {"le"}):
        problems.append(f"{where}: label {label} is not one the watch exports")


def check_dashboard(path, metrics, labels):
    try:
        dash = json.loads(path.read_text())
    except ValueError as e:
        problems.append(f"{path.name}: not JSON ({e})")
        return
    for key, kind in [("title", str), ("uid", str), ("schemaVersion", int), ("panels", list)]:
        if not isinstance(dash.get(key), kind):
            problems.append(f"{path.name}: `{key}` missing or not a {kind.__name__}")
    ids = set()
    for i, panel in enumerate(dash.get("panels", [])):
        where = f"{path.name}: panel {i} ({panel.get('title', '?')})"
        for key in ("id", "type", "title", "gridPos", "datasource", "targets"):
            if key not in panel:
                problems.append(f"{where}: no `{key}`")
        if panel.get("id") in ids:
            problems.append(f"{where}: id {panel.get('id')} used twice")
        ids.add(panel.get("id"))
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in "xywh"):
            problems.append(f"{where}: gridPos needs integer x, y, w, h")
        elif grid["x"] + grid["w"] > 24:
            problems.append(f"{where}: wider than the 24 grid columns")
        if panel.get("datasource", {}).get("type") != "prometheus":
            problems.append(f"{where}: the datasource is not Prometheus")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{where}: no target")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or None in refs:
            problems.append(f"{where}: refIds missing or repeated")
        for t in targets:
            expr = t.get("expr")
            if not isinstance(expr, str) or not NAME.search(expr):
                problems.append(f"{where}: target {t.get('refId')} has no expression on a sam_ metric")
                continue
            check_names(where, expr, metrics)
            check_labels(where, expr + " " + t.get("legendFormat", ""), labels)


def main():
    metrics = exported_metrics()
    labels = exported_labels()
    if len(metrics) < 8:
        problems.append(f"{METRICS_RS}: found only {sorted(metrics)}: has the file moved?")
    readme = README.read_text()
    for name in sorted(metrics):
        if f"| `{name}` |" not in readme:
            problems.append(f"{README}: {name} is not in the Metrics table")
    rules = (HERE / "sam-watch.rules.yml").read_text()
    exprs = "\n".join(re.findall(r"^\s*expr:\s*(.*)$", rules, re.M))
    check_names("sam-watch.rules.yml", exprs, metrics)
    annotations_labels = " ".join(f"$labels.{l}" for l in re.findall(r"\$labels\.([a-z_]+)", rules))
    check_labels("sam-watch.rules.yml", exprs + "\n" + annotations_labels, labels)
    check_dashboard(HERE / "sam-watch.dashboard.json", metrics, labels)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"ok: the dashboard's and the rules' metrics and labels are among the {len(metrics)} the watch exports")


main()
