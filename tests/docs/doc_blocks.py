#!/usr/bin/python3
"""doc_blocks.py - the shell blocks of a Markdown file, with their markers.

Every ```sh block in a document tqbench tests must be preceded by a marker
line (blank lines allowed in between) saying how the docs test treats it:

  <!-- runnable -->               run it; it must exit 0
  <!-- runnable: exit N -->       run it; it must exit N (a documented failure)
  <!-- runnable: background -->   start it, leave it running (a worker in "its
                                  own terminal"); stopped with SIGTERM at the
                                  end, where it must exit 0 (graceful stop)
  <!-- not-runnable: REASON -->   shown, not run (REASON says why)

    doc_blocks.py DOC OUT_DIR

writes OUT_DIR/NN.sh for each runnable block and prints one line per block,
"NN MODE EXPECTED LINE" (MODE run|background, EXPECTED the exit code, LINE
the fence's line in DOC). Exits 1 naming the line of any ```sh block without
a marker, or of an unknown marker.
"""
import os
import re
import sys

MARKER = re.compile(r"^<!--\s*(runnable(?::\s*(background|exit\s+(\d+)))?|not-runnable:.*\S)\s*-->\s*$")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    doc, out = sys.argv[1:]
    lines = open(doc).read().split("\n")
    os.makedirs(out, exist_ok=True)
    errors, marker, n, i = [], None, 0, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("<!--"):
            m = MARKER.match(line)
            if m is None and ("runnable" in line):
                errors.append(f"{doc}:{i + 1}: unknown marker {line!r}")
            marker = m if m else marker
            i += 1
            continue
        if line.strip() == "":
            i += 1
            continue
        if line.startswith("```"):
            fence_line = i + 1
            lang = line[3:].strip()
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            i += 1
            if lang in ("sh", "bash", "shell"):
                if marker is None:
                    errors.append(f"{doc}:{fence_line}: ```{lang} block without a runnable/not-runnable marker")
                elif marker.group(1).startswith("runnable"):
                    n += 1
                    mode = "background" if marker.group(2) == "background" else "run"
                    expected = marker.group(3) or "0"
                    with open(os.path.join(out, "%02d.sh" % n), "w") as f:
                        f.write("\n".join(body) + "\n")
                    print("%02d %s %s %d" % (n, mode, expected, fence_line))
            marker = None
            continue
        marker = None
        i += 1
    if errors:
        sys.exit("\n".join(errors))


if __name__ == "__main__":
    main()
