"""Render every Adaptive Card the bot sends to a PNG, the way Teams shows it in each theme.

Run it again with one command, from the repository root:

    /work/main/.venv/bin/python docs/render_cards.py --themes all

writes docs/images/<theme>/<card>.png for the themes light, dark and high-contrast
(`--themes light,dark` picks some; the default is light). Optional: `--only welcome,form-risk`
renders just those cards, `--out DIR` writes DIR/<theme>/<card>.png instead, `--scale 2`
makes sharper (and larger) images, `--keep-html DIR` keeps the HTML pages.

What it needs (all offline; nothing here touches the network):
  * Debian's Chromium:          apt-get update && apt-get install -y chromium
  * a Segoe UI-like font:       apt-get install -y fonts-noto-core   (optional; falls back
                                to Liberation Sans, which Chromium's package pulls in)
  * Microsoft's JS renderer:    npm ci   (devDependency `adaptivecards`, pinned in package.json)

How it works: `python -m tests.support.gallery` writes every card as JSON into a temp dir; for each
card and theme a static HTML page loads node_modules/adaptivecards/dist/adaptivecards.min.js
through a file:// URL and renders the card with that theme's Teams host config, the same file
tests/test_contrast.py checks contrast with (tests/fixtures/host_configs; their README says
where each came from). Only the font family is changed, to fonts this machine has. The card
sits, 450px wide, on the chat background Teams uses in that theme (tests/support/contrast.py,
THEMES); buttons and text boxes, which Teams draws with its own styles rather than the host
config, get CSS modelled on Teams' (THEME_CSS below, values chosen by hand). Headless Chromium
runs twice per card: `--dump-dom` to read the rendered height, then `--screenshot` with a window
exactly that tall, so no cropping tool is needed. Nothing can leave the machine: Chromium
runs inside an empty network namespace (`unshare -n`, when available), the page has a
Content-Security-Policy that allows only file: and inline content, and Chromium gets a dead
loopback proxy and a host resolver that resolves nothing.

Standard library only (and tests/support/contrast.py, which is too). Exits non-zero with a
message if Chromium or the renderer is missing, or if a card fails to render.
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
sys.path.insert(0, str(ROOT))
from tests.support.contrast import THEMES, load_host  # noqa: E402 - needs ROOT on the path

RENDERER_JS = ROOT / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js"
DEFAULT_OUT = ROOT / "docs" / "images"
PYTHON = ROOT / ".venv" / "bin" / "python"

CARD_WIDTH = 450  # a Teams chat message card is about this wide
PAGE_MARGIN = 16  # grey border around the card in the picture
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_TIMEOUT = 90

FONT_STACK = (
    "'Segoe UI', 'Segoe UI Web (West European)', Selawik, 'Noto Sans', 'Open Sans', "
    "'Liberation Sans', 'DejaVu Sans', Arial, sans-serif"
)
THEME_NAMES = tuple(THEMES)

# What Teams draws with its own styles, not the host config: buttons, inputs, links, the frame
# of the card. Modelled on Teams' look in each theme (values chosen by hand, not copied).
THEME_CSS = {
    "light": {
        "frame": "border: none; box-shadow: 0 1px 2px rgba(0,0,0,0.14), 0 0 2px rgba(0,0,0,0.12);",
        "button_bg": "#FFFFFF", "button_fg": "#242424", "button_border": "#D1D1D1",
        "primary_bg": "#5B5FC7", "primary_fg": "#FFFFFF", "destructive_fg": "#C4314B",
        "input_bg": "#FFFFFF", "input_fg": "#242424", "input_border": "#D1D1D1",
        "input_underline": "#616161", "placeholder": "#707070", "link": "#5B5FC7",
        "check": "#5B5FC7",
    },
    "dark": {
        "frame": "border: none; box-shadow: 0 1px 2px rgba(0,0,0,0.5);",
        "button_bg": "#292929", "button_fg": "#FFFFFF", "button_border": "#666666",
        "primary_bg": "#4F52B2", "primary_fg": "#FFFFFF", "destructive_fg": "#F9A0A9",
        "input_bg": "#1F1F1F", "input_fg": "#FFFFFF", "input_border": "#666666",
        "input_underline": "#ADADAD", "placeholder": "#ADADAD", "link": "#A6A7DC",
        "check": "#7F85F5",
    },
    "high-contrast": {
        "frame": "border: 1px solid #FFFFFF; box-shadow: none;",
        "button_bg": "#000000", "button_fg": "#FFFFFF", "button_border": "#FFFFFF",
        "primary_bg": "#1AEBFF", "primary_fg": "#000000", "destructive_fg": "#FFFFFF",
        "input_bg": "#000000", "input_fg": "#FFFFFF", "input_border": "#FFFFFF",
        "input_underline": "#FFFFFF", "placeholder": "#FFFFFF", "link": "#FFFF01",
        "check": "#1AEBFF",
    },
}  # fmt: skip

# Page CSS: Teams' look for what the host config does not cover (buttons, inputs, the frame).
PAGE_CSS = """
html, body { margin: 0; padding: 0; background: %(page)s; overflow: hidden; }
body { font-family: %(font)s; -webkit-font-smoothing: antialiased; }
#frame { width: %(width)dpx; margin: %(margin)dpx; background: %(card)s; border-radius: 6px;
         %(frame)s overflow: hidden; box-sizing: border-box; }
#frame .ac-adaptiveCard:focus { outline: none; }
.ac-pushButton, .ac-pushButton-disabled {
  font-family: %(font)s; font-size: 14px; font-weight: 600; line-height: 20px;
  min-height: 32px; padding: 5px 12px; border-radius: 4px; cursor: pointer;
  background: %(button_bg)s; color: %(button_fg)s; border: 1px solid %(button_border)s;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; box-sizing: border-box; }
.ac-pushButton.style-positive, .ac-pushButton.primary {
  background: %(primary_bg)s; border-color: %(primary_bg)s; color: %(primary_fg)s; }
.ac-pushButton.style-destructive {
  background: %(button_bg)s; color: %(destructive_fg)s; border-color: %(button_border)s; }
.ac-pushButton.expandable:after {  /* the renderer's chevron is in an icon font we lack */
  font-family: %(font)s; font-size: 12px; font-weight: 400; content: "\\25BE"; margin-left: 6px; }
.ac-pushButton.expandable.expanded:after { content: "\\25B4"; }
.ac-textBlock p { margin: 0 0 8px 0; }
.ac-textBlock p:last-child { margin-bottom: 0; }
.ac-textBlock ul, .ac-textBlock ol { margin: 0; padding-left: 20px; }
.ac-pushButton > div { overflow: hidden; text-overflow: ellipsis; }
.ac-input { font-family: %(font)s; font-size: 14px; color: %(input_fg)s; }
.ac-input.ac-textInput, .ac-input.ac-numberInput, .ac-input.ac-dateInput,
.ac-input.ac-timeInput, .ac-input.ac-multichoiceInput {
  background: %(input_bg)s; color: %(input_fg)s; border: 1px solid %(input_border)s;
  border-bottom-color: %(input_underline)s; border-radius: 4px; padding: 5px 10px;
  min-height: 32px; box-sizing: border-box; color-scheme: %(scheme)s; }
.ac-input.ac-textInput.ac-multiline { min-height: 72px; resize: none; }
.ac-input::placeholder { color: %(placeholder)s; opacity: 1; }
.ac-input.ac-choiceSetInput-expanded, .ac-input.ac-choiceSetInput-multiSelect { padding: 2px 0; }
.ac-input.ac-choiceSetInput-expanded input, .ac-input.ac-choiceSetInput-multiSelect input {
  accent-color: %(check)s; width: 16px; height: 16px; }
.ac-input.ac-choiceSetInput-expanded > div, .ac-input.ac-choiceSetInput-multiSelect > div {
  margin: 4px 0; }
.ac-input.ac-choiceSetInput-expanded > div > div,
.ac-input.ac-choiceSetInput-multiSelect > div > div { flex: 0 0 auto; }
.ac-input.ac-choiceSetInput-expanded label, .ac-input.ac-choiceSetInput-multiSelect label {
  font-size: 14px; }
.ac-input.ac-toggleInput input { accent-color: %(check)s; }
a.ac-anchor, a.ac-anchor:visited { color: %(link)s; text-decoration: underline; }
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


def host_config(theme: str) -> dict:
    """The theme's Teams host config, with fonts this machine has (nothing else changed)."""
    config = json.loads(json.dumps(load_host(theme).config))
    config["fontFamily"] = FONT_STACK
    for font_type in (config.get("fontTypes") or {}).values():
        if "monospace" not in font_type.get("fontFamily", "").lower():
            font_type["fontFamily"] = FONT_STACK
    return config


def build_page(name: str, card: dict, theme: str) -> str:
    host = load_host(theme)
    css = PAGE_CSS % {
        **THEME_CSS[theme],
        "font": FONT_STACK,
        "width": CARD_WIDTH,
        "margin": PAGE_MARGIN,
        "page": host.theme.page,
        "card": host.styles["default"].background or host.theme.page,
        "scheme": "light" if theme == "light" else "dark",
    }
    return PAGE_TEMPLATE % {
        "name": name,
        "css_url": (RENDERER_JS.parent / "adaptivecards.css").as_uri(),
        "js_url": RENDERER_JS.as_uri(),
        "page_css": css,
        "host_config": script_json(host_config(theme)),
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


def themes_of(text: str) -> list[str]:
    names = (
        list(THEME_NAMES)
        if text.strip() == "all"
        else [n.strip() for n in text.split(",") if n.strip()]
    )
    unknown = sorted(set(names) - set(THEME_NAMES))
    if unknown or not names:
        fail(f"no such theme(s): {', '.join(unknown)}; known: {', '.join(THEME_NAMES)}, all")
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNGs go to OUT/<theme>/")
    parser.add_argument("--only", default="", help="comma-separated card names")
    parser.add_argument(
        "--themes",
        "--theme",
        default="light",
        help=f"comma-separated, of {', '.join(THEME_NAMES)}; or all (default: light)",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="device scale factor")
    parser.add_argument("--keep-html", type=Path, help="also keep the HTML pages here")
    args = parser.parse_args()

    themes = themes_of(args.themes)
    chromium = Chromium(find_chromium(), args.scale)
    check_renderer()
    note_fonts()

    width = CARD_WIDTH + 2 * PAGE_MARGIN
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="render-cards-") as tmp:
        cards = write_gallery(Path(tmp) / "json")
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(cards))
        if unknown:
            fail(f"no such card(s): {', '.join(unknown)}; known: {', '.join(cards)}")
        for theme in themes:
            out = args.out / theme
            out.mkdir(parents=True, exist_ok=True)
            pages = (Path(args.keep_html) if args.keep_html else Path(tmp) / "html") / theme
            pages.mkdir(parents=True, exist_ok=True)
            for name, card in cards.items():
                if wanted and name not in wanted:
                    continue
                page = (pages / f"{name}.html").resolve()
                page.write_text(build_page(name, card, theme), encoding="utf-8")
                url = page.as_uri()
                info = chromium.measure(url, width)
                if not info.get("ok"):
                    problems.append(f"{theme}/{name}: {info.get('error')}")
                    continue
                for warning in info.get("warnings", []):
                    problems.append(f"{theme}/{name}: renderer warning: {warning}")
                if info.get("scrollWidth", 0) > info.get("clientWidth", 0):
                    problems.append(
                        f"{theme}/{name}: content is wider than the {CARD_WIDTH}px card"
                    )
                png = out / f"{name}.png"
                chromium.screenshot(url, png, width, int(info["height"]))
                w, h = png_size(png)
                size_kb = png.stat().st_size / 1024
                print(
                    f"{png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}"
                    f"  {w}x{h}  {size_kb:.0f} KB"
                )
            if not wanted:  # drop pictures of cards the gallery no longer has
                for stale in sorted(out.glob("*.png")):
                    if stale.stem not in cards:
                        stale.unlink()
                        print(f"removed {theme}/{stale.name} (no such card any more)")
    for problem in problems:
        print(f"render_cards: {problem}", file=sys.stderr)
    if any("renderer warning" not in p and "wider" not in p for p in problems):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
