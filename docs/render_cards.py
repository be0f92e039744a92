"""Render every Adaptive Card the bot sends to a PNG, the way Teams (light theme) shows it.

Run it again with one command, from the repository root:

    /work/main/.venv/bin/python docs/render_cards.py

Optional: `--only welcome,form-risk` renders just those cards, `--out DIR` writes elsewhere,
`--scale 2` makes sharper (and larger) images, `--keep-html DIR` keeps the HTML pages.

What it needs (all offline; nothing here touches the network):
  * Debian's Chromium:          apt-get update && apt-get install -y chromium
  * a Segoe UI-like font:       apt-get install -y fonts-noto-core   (optional; falls back
                                to Liberation Sans, which Chromium's package pulls in)
  * Microsoft's JS renderer:    npm ci   (devDependency `adaptivecards`, pinned in package.json)

How it works: `python -m tests.support.gallery` writes every card as JSON into a temp dir; for each
card a static HTML page loads node_modules/adaptivecards/dist/adaptivecards.min.js through
a file:// URL, renders the card with a Teams-light-like host config into a 450px wide white
card on Teams' light grey background, and records the rendered height. Headless Chromium
runs twice per card: `--dump-dom` to read that height, then `--screenshot` with a window
exactly that tall, so no cropping tool is needed. Nothing can leave the machine: Chromium
runs inside an empty network namespace (`unshare -n`, when available), the page has a
Content-Security-Policy that allows only file: and inline content, and Chromium gets a dead
loopback proxy and a host resolver that resolves nothing.

Standard library only. Exits non-zero with a message if Chromium or the renderer is missing,
or if a card fails to render.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
RENDERER_JS = ROOT / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js"
DEFAULT_OUT = ROOT / "docs" / "images"
PYTHON = ROOT / ".venv" / "bin" / "python"

CARD_WIDTH = 450  # a Teams chat message card is about this wide
PAGE_MARGIN = 16  # grey border around the card in the picture
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_TIMEOUT = 90

TEAMS_PURPLE = "#6264A7"
# Teams' light-theme text colours, the same on plain and emphasis containers.
FOREGROUND_COLORS = {
    "default": {"default": "#242424", "subtle": "#616161"},
    "dark": {"default": "#252423", "subtle": "#484644"},
    "light": {"default": "#FFFFFF", "subtle": "#F3F2F1"},
    "accent": {"default": TEAMS_PURPLE, "subtle": "#8B8CC7"},
    "good": {"default": "#237B4B", "subtle": "#4E9A6F"},
    "warning": {"default": "#C4314B", "subtle": "#C4314B"},
    "attention": {"default": "#C4314B", "subtle": "#D16A7C"},
}
FONT_STACK = (
    "'Segoe UI', 'Segoe UI Web (West European)', Selawik, 'Noto Sans', 'Open Sans', "
    "'Liberation Sans', 'DejaVu Sans', Arial, sans-serif"
)

# Host config modelled on Teams' light theme (values chosen by hand, not copied).
HOST_CONFIG: dict = {
    "supportsInteractivity": True,
    "fontFamily": FONT_STACK,
    "spacing": {
        "small": 4,
        "default": 8,
        "medium": 16,
        "large": 20,
        "extraLarge": 24,
        "padding": 16,
    },
    "separator": {"lineThickness": 1, "lineColor": "#E1DFDD"},
    "fontSizes": {"small": 12, "default": 14, "medium": 14, "large": 18, "extraLarge": 24},
    "fontWeights": {"lighter": 300, "default": 400, "bolder": 600},
    "lineHeights": {"small": 16, "default": 20, "medium": 20, "large": 24, "extraLarge": 32},
    "imageSizes": {"small": 32, "medium": 52, "large": 100},
    "containerStyles": {
        "default": {
            "backgroundColor": "#FFFFFF",
            "foregroundColors": FOREGROUND_COLORS,
        },
        "emphasis": {
            "backgroundColor": "#F5F5F5",
            "foregroundColors": FOREGROUND_COLORS,
        },
        "good": {"backgroundColor": "#E7F2DA", "foregroundColors": {}},
        "attention": {"backgroundColor": "#FCF4F6", "foregroundColors": {}},
        "warning": {"backgroundColor": "#FBF6D9", "foregroundColors": {}},
        "accent": {"backgroundColor": "#E8EBFA", "foregroundColors": {}},
    },
    "actions": {
        "maxActions": 6,
        "spacing": "medium",
        "buttonSpacing": 8,
        "showCard": {"actionMode": "inline", "inlineTopMargin": 16, "style": "emphasis"},
        "actionsOrientation": "horizontal",
        "actionAlignment": "left",
        "iconPlacement": "leftOfTitle",
        "iconSize": 16,
    },
    "adaptiveCard": {"allowCustomStyle": True},
    "textBlock": {"headingLevel": 2},
    "factSet": {
        "title": {
            "color": "default",
            "size": "default",
            "isSubtle": False,
            "weight": "bolder",
            "wrap": True,
            "maxWidth": 150,
        },
        "value": {
            "color": "default",
            "size": "default",
            "isSubtle": False,
            "weight": "default",
            "wrap": True,
        },
        "spacing": 12,
    },
    "inputs": {
        "label": {
            "inputSpacing": "small",
            "requiredInputs": {"weight": "bolder", "suffix": " *", "suffixColor": "attention"},
            "optionalInputs": {"weight": "bolder"},
        },
        "errorMessage": {"size": "small", "spacing": "small", "color": "attention"},
    },
}

# Page CSS: Teams-light look for what the host config does not cover (buttons, inputs).
PAGE_CSS = """
html, body { margin: 0; padding: 0; background: #F5F5F5; overflow: hidden; }
body { font-family: %(font)s; -webkit-font-smoothing: antialiased; }
#frame { width: %(width)dpx; margin: %(margin)dpx; background: #FFFFFF; border-radius: 6px;
         box-shadow: 0 1px 2px rgba(0,0,0,0.14), 0 0 2px rgba(0,0,0,0.12); overflow: hidden; }
#frame .ac-adaptiveCard:focus { outline: none; }
.ac-pushButton, .ac-pushButton-disabled {
  font-family: %(font)s; font-size: 14px; font-weight: 600; line-height: 20px;
  min-height: 32px; padding: 5px 12px; border-radius: 4px; cursor: pointer;
  background: #FFFFFF; color: #242424; border: 1px solid #D1D1D1;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; box-sizing: border-box; }
.ac-pushButton.style-positive, .ac-pushButton.primary {
  background: %(purple)s; border-color: %(purple)s; color: #FFFFFF; }
.ac-pushButton.style-destructive { background: #FFFFFF; color: #C4314B; border-color: #D1D1D1; }
.ac-textBlock p { margin: 0 0 8px 0; }
.ac-textBlock p:last-child { margin-bottom: 0; }
.ac-textBlock ul, .ac-textBlock ol { margin: 0; padding-left: 20px; }
.ac-pushButton > div { overflow: hidden; text-overflow: ellipsis; }
.ac-input { font-family: %(font)s; font-size: 14px; color: #242424; }
.ac-input.ac-textInput, .ac-input.ac-numberInput, .ac-input.ac-dateInput,
.ac-input.ac-timeInput, .ac-input.ac-multichoiceInput {
  background: #FFFFFF; border: 1px solid #D1D1D1; border-bottom-color: #616161;
  border-radius: 4px; padding: 5px 10px; min-height: 32px; box-sizing: border-box; }
.ac-input.ac-textInput.ac-multiline { min-height: 72px; resize: none; }
.ac-input::placeholder { color: #707070; }
.ac-input.ac-choiceSetInput-expanded, .ac-input.ac-choiceSetInput-multiSelect { padding: 2px 0; }
.ac-input.ac-choiceSetInput-expanded input, .ac-input.ac-choiceSetInput-multiSelect input {
  accent-color: %(purple)s; width: 16px; height: 16px; }
.ac-input.ac-choiceSetInput-expanded > div, .ac-input.ac-choiceSetInput-multiSelect > div {
  margin: 4px 0; }
.ac-input.ac-choiceSetInput-expanded > div > div,
.ac-input.ac-choiceSetInput-multiSelect > div > div { flex: 0 0 auto; }
.ac-input.ac-choiceSetInput-expanded label, .ac-input.ac-choiceSetInput-multiSelect label {
  font-size: 14px; }
.ac-input.ac-toggleInput input { accent-color: %(purple)s; }
a.ac-anchor, a.ac-anchor:visited { color: %(purple)s; text-decoration: none; }
"""

PAGE_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; script-src file: 'unsafe-inline';
               style-src file: 'unsafe-inline'; img-src file: data:; font-src file: data:">
<title>%(name)s</title>
<link rel="stylesheet" href="%(css_url)s">
<style>%(page_css)s</style>
<script src="%(js_url)s"></script>
</head>
<body>
<div id="frame"></div>
<pre id="result" style="display:none"></pre>
<script>
// The markdown subset Teams supports in cards: **bold**, _italic_, [links](url), lists.
function teamsMarkdown(text) {
  function esc(t) {
    return t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
            .replace(/"/g, "&quot;");
  }
  function inline(t) {
    t = esc(t);
    t = t.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '<a class="ac-anchor" href="$2">$1</a>');
    t = t.replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>");
    t = t.replace(/(^|[^\w*])\*(?!\s)(.+?)\*(?!\w)/g, "$1<em>$2</em>");
    t = t.replace(/(^|[^\w])_(?!\s)(.+?)_(?!\w)/g, "$1<em>$2</em>");
    return t;
  }
  var blocks = [], list = null, para = [];
  function flushPara() {
    if (para.length) { blocks.push("<p>" + para.map(inline).join("<br>") + "</p>"); para = []; }
  }
  function flushList() {
    if (!list) { return; }
    blocks.push("<" + list.tag + ">" + list.items.join("") + "</" + list.tag + ">");
    list = null;
  }
  text.split(/\r?\n/).forEach(function (line) {
    var m = /^\s*([-*+]|\d+\.)\s+(.*)$/.exec(line);
    if (m) {
      flushPara();
      var tag = /\d/.test(m[1]) ? "ol" : "ul";
      if (!list || list.tag !== tag) { flushList(); list = {tag: tag, items: []}; }
      list.items.push("<li>" + inline(m[2]) + "</li>");
    } else if (/^\s*$/.test(line)) {
      flushPara(); flushList();
    } else {
      flushList(); para.push(line);
    }
  });
  flushPara(); flushList();
  return blocks.join("");
}
(function () {
  var out = {ok: false, height: 0, warnings: [], error: null};
  try {
    var AC = window.AdaptiveCards;
    if (!AC) { throw new Error("adaptivecards.min.js did not load"); }
    AC.GlobalSettings.setTabIndexAtCardRoot = false;
    // Teams renders a markdown subset in TextBlocks; the bare JS renderer needs a processor.
    AC.AdaptiveCard.onProcessMarkdown = function (text, result) {
      result.outputHtml = teamsMarkdown(text);
      result.didProcess = true;
    };
    var card = new AC.AdaptiveCard();
    card.hostConfig = new AC.HostConfig(%(host_config)s);
    // Links and buttons do nothing in a picture.
    card.onExecuteAction = function () {};
    var context = new AC.SerializationContext();
    card.parse(%(card_json)s, context);
    for (var i = 0; i < context.eventCount; i++) {
      var ev = context.getEventAt(i);
      out.warnings.push(ev.message);
    }
    var rendered = card.render();
    if (!rendered) { throw new Error("render() returned nothing"); }
    document.getElementById("frame").appendChild(rendered);
    var frame = document.getElementById("frame");
    var box = frame.getBoundingClientRect();
    out.height = Math.ceil(box.bottom + %(margin)d);
    out.width = Math.ceil(box.right + %(margin)d);
    out.scrollWidth = rendered.scrollWidth;
    out.clientWidth = rendered.clientWidth;
    out.ok = true;
  } catch (e) {
    out.error = String(e && e.stack || e);
  }
  document.getElementById("result").textContent = "RENDER_" + "RESULT:" +
      btoa(unescape(encodeURIComponent(JSON.stringify(out)))) + ":END";
})();
</script>
</body>
</html>
"""


def fail(message: str) -> NoReturn:
    print(f"render_cards: {message}", file=sys.stderr)
    sys.exit(1)


def find_chromium() -> str:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    fail(
        "Chromium was not found on PATH. Install Debian's package as root: "
        "apt-get update && apt-get install -y chromium"
    )


def check_renderer() -> None:
    if not RENDERER_JS.is_file():
        fail(
            f"{RENDERER_JS.relative_to(ROOT)} is missing. Run `npm ci` (or `npm install`) in "
            f"{ROOT} to install the pinned `adaptivecards` devDependency."
        )


def note_fonts() -> None:
    fc_list = shutil.which("fc-list")
    if not fc_list:
        return
    families = subprocess.run(
        [fc_list, ":", "family"], capture_output=True, text=True, check=False
    ).stdout
    if not any(f in families for f in ("Segoe UI", "Selawik", "Noto Sans", "Open Sans")):
        print(
            "render_cards: note: no Segoe UI-like font found; text falls back to Liberation "
            "Sans or DejaVu Sans. For the intended look: apt-get install -y fonts-noto-core",
            file=sys.stderr,
        )


def write_gallery(directory: Path) -> dict[str, dict]:
    python = str(PYTHON) if PYTHON.exists() else sys.executable
    result = subprocess.run(
        [python, "-m", "tests.support.gallery", str(directory)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        fail(f"`python -m tests.support.gallery` failed:\n{result.stdout}{result.stderr}")
    cards = {}
    for path in sorted(directory.glob("*.json")):
        cards[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    if not cards:
        fail("the gallery wrote no cards")
    return cards


def script_json(value: object) -> str:
    """JSON that is safe to put inside a <script> element."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_page(name: str, card: dict) -> str:
    css = PAGE_CSS % {
        "font": FONT_STACK,
        "width": CARD_WIDTH,
        "margin": PAGE_MARGIN,
        "purple": TEAMS_PURPLE,
    }
    return PAGE_TEMPLATE % {
        "name": name,
        "css_url": (RENDERER_JS.parent / "adaptivecards.css").as_uri(),
        "js_url": RENDERER_JS.as_uri(),
        "page_css": css,
        "host_config": script_json(HOST_CONFIG),
        "card_json": script_json(card),
        "margin": PAGE_MARGIN,
    }


def network_jail() -> list[str]:
    """`unshare -n` when it works (root on Linux): Chromium then has no network at all.

    Without it Chromium still sends nothing off the machine (see the flags below), but it
    does make a UDP connect() to a public address to probe IPv6 reachability, which sends no
    packet; inside an empty network namespace even that fails at once.
    """
    unshare = shutil.which("unshare")
    if unshare:
        probe = subprocess.run([unshare, "-n", "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [unshare, "-n"]
    print(
        "render_cards: note: `unshare -n` is not available here, so Chromium runs in the "
        "normal network namespace (no requests are made; see the docstring).",
        file=sys.stderr,
    )
    return []


class Chromium:
    def __init__(self, binary: str, scale: float) -> None:
        self.binary = binary
        self.scale = scale
        self.prefix = network_jail()

    def run(self, extra: list[str], url: str) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryDirectory(prefix="render-cards-profile-") as profile:
            args = [
                *self.prefix,
                self.binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                # Belt and braces: nothing may leave this machine.
                "--proxy-server=http://127.0.0.1:9",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--dns-prefetch-disable",
                "--disable-extensions",
                "--disable-default-apps",
                "--no-default-browser-check",
                "--mute-audio",
                "--hide-scrollbars",
                "--allow-file-access-from-files",
                "--force-color-profile=srgb",
                f"--force-device-scale-factor={self.scale}",
                "--virtual-time-budget=3000",
                *extra,
                url,
            ]
            env = dict(os.environ)
            env.setdefault("HOME", profile)
            try:
                return subprocess.run(
                    args,
                    capture_output=True,
                    text=True,
                    timeout=CHROMIUM_TIMEOUT,
                    check=False,
                    env=env,
                    stdin=subprocess.DEVNULL,
                )
            except subprocess.TimeoutExpired:
                fail(f"Chromium did not finish within {CHROMIUM_TIMEOUT}s on {url}")

    def measure(self, url: str, width: int) -> dict:
        result = self.run(["--dump-dom", f"--window-size={width},2000"], url)
        match = re.search(r"RENDER_RESULT:([A-Za-z0-9+/=]*):END", result.stdout)
        if match is None:
            fail(
                f"Chromium gave no render result for {url} (exit {result.returncode}).\n"
                f"{result.stderr[-2000:]}"
            )
        info: dict = json.loads(base64.b64decode(match.group(1)).decode("utf-8"))
        return info

    def screenshot(self, url: str, png: Path, width: int, height: int) -> None:
        png.unlink(missing_ok=True)
        result = self.run([f"--screenshot={png}", f"--window-size={width},{height}"], url)
        if not png.is_file():
            fail(
                f"Chromium wrote no screenshot {png} (exit {result.returncode}).\n"
                f"{result.stderr[-2000:]}"
            )


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the PNGs go")
    parser.add_argument("--only", default="", help="comma-separated card names")
    parser.add_argument("--scale", type=float, default=1.0, help="device scale factor")
    parser.add_argument("--keep-html", type=Path, help="also keep the HTML pages here")
    args = parser.parse_args()

    chromium = Chromium(find_chromium(), args.scale)
    check_renderer()
    note_fonts()

    width = CARD_WIDTH + 2 * PAGE_MARGIN
    args.out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="render-cards-") as tmp:
        cards = write_gallery(Path(tmp) / "json")
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(cards))
        if unknown:
            fail(f"no such card(s): {', '.join(unknown)}; known: {', '.join(cards)}")
        pages = Path(args.keep_html) if args.keep_html else Path(tmp) / "html"
        pages.mkdir(parents=True, exist_ok=True)
        for name, card in cards.items():
            if wanted and name not in wanted:
                continue
            page = (pages / f"{name}.html").resolve()
            page.write_text(build_page(name, card), encoding="utf-8")
            url = page.as_uri()
            info = chromium.measure(url, width)
            if not info.get("ok"):
                problems.append(f"{name}: {info.get('error')}")
                continue
            for warning in info.get("warnings", []):
                problems.append(f"{name}: renderer warning: {warning}")
            if info.get("scrollWidth", 0) > info.get("clientWidth", 0):
                problems.append(f"{name}: content is wider than the {CARD_WIDTH}px card")
            png = args.out / f"{name}.png"
            chromium.screenshot(url, png, width, int(info["height"]))
            w, h = png_size(png)
            size_kb = png.stat().st_size / 1024
            print(
                f"{png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}"
                f"  {w}x{h}  {size_kb:.0f} KB"
            )
        if not wanted:  # drop pictures of cards the gallery no longer has
            for stale in sorted(args.out.glob("*.png")):
                if stale.stem not in cards:
                    stale.unlink()
                    print(f"removed {stale.name} (no such card any more)")
    for problem in problems:
        print(f"render_cards: {problem}", file=sys.stderr)
    if any("renderer warning" not in p and "wider" not in p for p in problems):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
