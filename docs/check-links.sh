#!/usr/bin/env bash
# Checks every relative Markdown link in README.md and docs/*.md, without the network:
#   [text](path)          the file (or directory) exists, relative to the page that links it;
#   [text](path#anchor)   and, when path is a Markdown file, #anchor is one of its headings;
#   [text](#anchor)       a heading of the page itself.
# Anchors follow GitHub's slugs: lower-case, spaces become '-', punctuation other than '-' and '_'
# dropped; a repeated heading gets -1, -2, ... Links inside fenced code blocks and inline code are
# not links. http(s)://, mailto: and other external links are not fetched.
# Exit 0 when every link resolves; 1 with one line per broken link otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 - README.md docs/*.md <<'PY'
import os, re, sys

def strip_code(text):
    """The page without fenced code blocks and inline code spans (line numbers kept)."""
    out, fence = [], None
    for line in text.split("\n"):
        m = re.match(r"^\s{0,3}(`{3,}|~{3,})", line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            out.append("")
            continue
        if m:
            fence = m.group(1)
            out.append("")
            continue
        out.append(re.sub(r"(`+)(?:(?!\1).)+?\1", "", line))
    return out

def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"<[^>]+>", "", s)                    # inline HTML
    s = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", s)   # a link's text stays
    s = s.replace("`", "")
    s = re.sub(r"[^\w\- ]", "", s)                   # \w keeps letters, digits and '_'
    return s.replace(" ", "-")

anchors_cache = {}
def anchors(path):
    if path not in anchors_cache:
        seen, found, fence = {}, set(), None
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"^\s{0,3}(`{3,}|~{3,})", line)
                if fence:
                    if m and m.group(1)[0] == fence[0]:
                        fence = None
                    continue
                if m:
                    fence = m.group(1)
                    continue
                h = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
                if not h:
                    continue
                base = slug(h.group(1))
                n = seen.get(base, 0)
                found.add(base if n == 0 else f"{base}-{n}")
                seen[base] = n + 1
        anchors_cache[path] = found
    return anchors_cache[path]

link = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
broken, checked = [], 0
for page in sys.argv[1:]:
    with open(page, encoding="utf-8") as f:
        lines = strip_code(f.read())
    for no, line in enumerate(lines, 1):
        for m in link.finditer(line):
            target = m.group(1)
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):   # http:, https:, mailto:, …
                continue
            checked += 1
            path, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            if not os.path.exists(dest):
                broken.append(f"{page}:{no}: {target}: no such file {dest}")
                continue
            if anchor and dest.endswith(".md") and anchor not in anchors(dest):
                broken.append(f"{page}:{no}: {target}: no heading #{anchor} in {dest}")

if broken:
    print(f"{len(broken)} broken link(s) of {checked} checked:")
    print("\n".join("  " + b for b in broken))
    sys.exit(1)
print(f"docs links: {checked} relative links in {len(sys.argv) - 1} pages, all resolve")
PY
