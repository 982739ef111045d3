#!/usr/bin/env python3
"""browser_check.py - report.html in a real browser, offline.

For each fixture: `tqbench report FIXTURE -o OUT/<name>.html`, then headless
Chromium loads it from a file:// URL with the network disabled (every host
resolves to nothing, an unusable proxy) and dumps the DOM after the scripts
ran. Asserts: the page counted no errors (window.onerror into data-errors),
Chromium logged no console error, each chart's series count and a few
plotted values equal the fixture's (the data- attributes report_template.html
puts on the SVG marks), and writes a PNG screenshot of each into OUT.

Usage: browser_check.py TQBENCH FIXTURES_DIR OUT_DIR
Prints "SKIP: ..." and exits 0 when chromium is not installed (CTest shows
the test as skipped)."""
import html.parser
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

TQBENCH, FIXTURES, OUT = sys.argv[1:4]


class Dom(html.parser.HTMLParser):
    """The elements with data- attributes, in order, with their chart."""

    def __init__(self):
        super().__init__()
        self.body = {}
        self.charts = []  # [{"attrs", "marks": [attrs]}]

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "svg" and "data-chart" in a:
            self.charts.append({"attrs": a, "marks": []})
        elif self.charts and ("data-value" in a or "data-min" in a):
            self.charts[-1]["marks"].append(dict(a, tag=tag))


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def browser(url, profile, extra):
    args = [chromium(), "--headless", "--disable-gpu", "--no-first-run",
            "--user-data-dir=" + profile,
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
            "--enable-logging=stderr", "--v=0", "--hide-scrollbars",
            "--window-size=1200,2600"] + extra + [url]
    if os.geteuid() == 0:
        args.insert(1, "--no-sandbox")
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def chart(dom, kind, scenario):
    for c in dom.charts:
        if c["attrs"]["data-chart"] == kind and c["attrs"]["data-scenario"] == scenario:
            return c
    check(False, "no %s chart for %s" % (kind, scenario))


def marks(c, series):
    return [m for m in c["marks"] if m.get("data-series-name") == series]


def load_page(name, profile):
    fixture = os.path.join(FIXTURES, name + ".json")
    page = os.path.join(OUT, name + ".html")
    subprocess.run([TQBENCH, "report", fixture, "-o", page], check=True, capture_output=True)
    url = "file://" + os.path.abspath(page)
    r = browser(url, profile, ["--dump-dom"])
    check(r.returncode == 0, "%s: chromium exit %d: %s" % (name, r.returncode, r.stderr[-2000:]))
    console = [l for l in r.stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l]
    check(not console, "%s: console messages: %s" % (name, console))
    dom = Dom()
    dom.feed(r.stdout)
    check(dom.body.get("data-ready") == "1", "%s: the script did not finish" % name)
    check(dom.body.get("data-errors") == "0",
          "%s: %s error(s) on the page" % (name, dom.body.get("data-errors")))
    shot = os.path.join(OUT, name + ".png")
    s = browser(url, profile, ["--screenshot=" + shot])
    check(s.returncode == 0 and os.path.getsize(shot) > 10000, "%s: no screenshot" % name)
    print("ok: %s (%d charts), screenshot %s" % (name, len(dom.charts), shot))
    with open(fixture) as f:
        return dom, json.load(f)


def ok_runs(doc, fw, value=None):
    return [r for r in doc["runs"] if r["framework"] == fw and r["status"] == "ok"
            and (value is None or r["sweep"]["value"] == value)]


def num(s):
    return float(s)


def main():
    if not chromium():
        print("SKIP: chromium is not installed (scripts/bootstrap installs it)")
        return 0
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tq-chromium-") as profile:
        # repeats: bars are medians with min-max whiskers, one per framework
        dom, doc = load_page("repeats", profile)
        tp = chart(dom, "throughput", "throughput")
        check(tp["attrs"]["data-series"] == "2", "throughput series %s" % tp["attrs"]["data-series"])
        for fw in ("native", "rq"):
            v = [r["throughput_per_s"]["end_to_end"] for r in ok_runs(doc, fw)]
            bar = [m for m in marks(tp, fw) if m["tag"] == "rect"]
            check(len(bar) == 1 and num(bar[0]["data-value"]) == statistics.median(v),
                  "%s bar %s, median %s" % (fw, bar, statistics.median(v)))
        whisker = [m for m in marks(tp, "native") if "data-min" in m]
        v = [r["throughput_per_s"]["end_to_end"] for r in ok_runs(doc, "native")]
        check(len(whisker) == 1 and num(whisker[0]["data-min"]) == min(v)
              and num(whisker[0]["data-max"]) == max(v), "native whisker %s vs %s" % (whisker, v))
        lat = chart(dom, "latency", "throughput")
        check(lat["attrs"]["data-series"] == "2", "latency series")
        p99 = [m for m in marks(lat, "native") if m["data-x"] == "99"]
        want = statistics.median(dict(map(tuple, r["latency_us"]["end_to_end"]["percentiles"]))[99]
                                 for r in ok_runs(doc, "native"))
        check(len(p99) == 1 and num(p99[0]["data-value"]) == want, "native p99 %s vs %s" % (p99, want))
        xs = [num(m["data-x"]) for m in marks(lat, "rq")]
        check(min(xs) == 50 and max(xs) == 99.99, "percentiles p50..p99.99: %s" % xs)
        cpu = chart(dom, "cpu", "throughput")
        check(cpu["attrs"]["data-series"] == "6", "cpu series: 2 frameworks x 3 roles")
        run = ok_runs(doc, "rq")[0]["resources"]["timeline"]
        got = [num(m["data-value"]) for m in marks(cpu, "rq redis")]
        check(got == [v for v in run["redis"]["cpu_pct"] if v is not None],
              "rq redis CPU samples %s" % got)
        mem = chart(dom, "memory", "throughput")
        got = [num(m["data-value"]) for m in marks(mem, "native workers")]
        want = [v / 1024 for v in ok_runs(doc, "native")[0]["resources"]["timeline"]["workers"]["rss_kb"]]
        check(got == want, "native workers RSS (MiB) %s vs %s" % (got, want))
        enq = chart(dom, "enqueue", "throughput")
        check(enq["attrs"]["data-series"] == "2", "enqueue series")

        # sweep: the figure versus the swept value, a series per framework
        dom, doc = load_page("sweep", profile)
        sw = chart(dom, "sweep-throughput", "latency")
        check(sw["attrs"]["data-series"] == "2", "sweep series")
        for fw in ("native", "rq"):
            pts = [(num(m["data-x"]), num(m["data-value"])) for m in marks(sw, fw)]
            want = [(r["sweep"]["value"], r["throughput_per_s"]["end_to_end"]) for r in ok_runs(doc, fw)]
            check(sorted(pts) == sorted(want), "%s sweep points %s vs %s" % (fw, pts, want))
        check(chart(dom, "latency", "latency")["attrs"]["data-series"] == "6",
              "latency: a series per framework and swept value")

        # a failed run and skipped frameworks load without errors, skipped listed
        load_page("failed", profile)
        dom, doc = load_page("skipped", profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
