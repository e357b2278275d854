"""The smoke report as a reader sees it: rendered in headless Chromium.

A copy of ``report.html`` gets a probe script that, after the page has loaded, measures element
boxes and writes its findings as JSON into the DOM; ``chromium --dump-dom`` returns that DOM.
Checked: every image loaded; in the summary table no cell's text overlaps its neighbour's;
each figure's title, image and caption do not overlap and come in that order; every contents
link lands on its section; clicking a numeric header sorts the rows by value.

Skipped only when Chromium is absent and ``KDBENCH_REQUIRE_CHROMIUM`` is unset (CI sets it and
installs Chromium, see .ci/run).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--hide-scrollbars", "--window-size=1280,1800", "--virtual-time-budget=15000"]

if CHROMIUM is None and os.environ.get("KDBENCH_REQUIRE_CHROMIUM"):
    raise RuntimeError("KDBENCH_REQUIRE_CHROMIUM is set but no chromium is on PATH "
                       "(install it: apt-get install -y chromium)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

PROBE = r"""
<script>
(function(){
function box(e){var r=e.getBoundingClientRect();return [r.left,r.top,r.right,r.bottom]}
function textBox(cell){var g=document.createRange();g.selectNodeContents(cell);
  var r=g.getBoundingClientRect();return [r.left,r.top,r.right,r.bottom]}
function overlap(a,b){return Math.min(a[2],b[2])-Math.max(a[0],b[0])>0.5 &&
  Math.min(a[3],b[3])-Math.max(a[1],b[1])>0.5}
function run(){
  var out={images:[],table:[],figures:[],links:[],sort:null};
  document.querySelectorAll('img').forEach(function(im){
    out.images.push({alt:im.alt,ok:im.complete&&im.naturalWidth>0,w:im.naturalWidth})});
  var h=document.getElementById('summary'),t=h;
  while(t&&t.tagName!=='TABLE'){t=t.nextElementSibling;if(t&&t.querySelector&&t.tagName!=='TABLE'){
    var q=t.querySelector('table');if(q){t=q;break}}}
  out.tableFound=!!t;
  if(t){Array.from(t.rows).forEach(function(row,i){var c=Array.from(row.cells);
    for(var j=1;j<c.length;j++){var a=textBox(c[j-1]),b=textBox(c[j]);
      if(overlap(a,b))out.table.push([i,j,c[j-1].textContent,c[j].textContent])}})}
  document.querySelectorAll('figure').forEach(function(f){
    var title=f.previousElementSibling,img=f.querySelector('img'),cap=f.querySelector('figcaption');
    var bt=box(title),bi=box(img),bc=box(cap);
    out.figures.push({alt:img.alt,title:title.tagName,caption:cap.textContent.slice(0,40),
      overlaps:[overlap(bt,bi),overlap(bi,bc),overlap(bt,bc)],
      ordered:bt[3]<=bi[1]+0.5&&bi[3]<=bc[1]+0.5})});
  document.querySelectorAll('nav.toc a').forEach(function(a){
    var id=a.getAttribute('href').slice(1),target=document.getElementById(id);
    if(target){target.scrollIntoView();}
    var top=target?target.getBoundingClientRect().top:null;
    out.links.push({id:id,found:!!target,top:top,visible:target!==null&&top>=-1&&top<window.innerHeight})});
  window.scrollTo(0,0);
  if(t){var hs=t.tHead.rows[0].cells,col=-1;
    for(var k=0;k<hs.length;k++){if(hs[k].textContent.trim()==='ID NLL')col=k}
    if(col>=0){hs[col].click();
      out.sort=Array.from(t.tBodies[0].rows).map(function(r){return r.cells[col].textContent})}}
  var ans=document.querySelector('table.answer'),fig=document.querySelector('figure img');
  out.first={answerBottom:ans?box(ans)[3]:null,forestTop:fig?box(fig)[1]:null,
    forestAlt:fig?fig.alt:null,width:document.documentElement.scrollWidth};
  var pre=document.createElement('pre');pre.id='kd-probe';pre.textContent=JSON.stringify(out);
  document.body.appendChild(pre);
}
window.addEventListener('load',function(){setTimeout(run,50)});
})();
</script>
"""


@pytest.fixture(scope="module")
def probed(smoke):
    """(probe findings, path of the report) for the smoke run's report.html."""
    html = (smoke[0] / "reports/smoke/report.html").read_text()
    tmp = Path(tempfile.mkdtemp(prefix="kdbench-html-"))
    page = tmp / "probe.html"
    page.write_text(html.replace("</body>", PROBE + "</body>"))
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", "--dump-dom",
                           page.as_uri()], capture_output=True, text=True, timeout=180)
    m = re.search(r'<pre id="kd-probe">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"no probe output; chromium said: {proc.stderr[-2000:]}"
    text = m.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    shutil.rmtree(tmp, ignore_errors=True)
    return json.loads(text), smoke[0] / "reports/smoke/report.html"


def test_every_image_loads(probed):
    out, _ = probed
    assert len(out["images"]) >= 10
    assert all(im["ok"] and im["w"] > 100 for im in out["images"]), out["images"]


def test_summary_table_cells_do_not_overlap(probed):
    out, _ = probed
    assert out["tableFound"]
    assert out["table"] == []


def test_figure_title_image_caption_in_order_without_overlap(probed):
    out, _ = probed
    assert out["figures"]
    for f in out["figures"]:
        assert f["title"] in ("H2", "H3", "P", "DIV"), f
        assert not any(f["overlaps"]) and f["ordered"], f
        assert f["caption"].startswith("Figure "), f


def test_contents_links_land_on_their_sections(probed):
    out, _ = probed
    ids = [link["id"] for link in out["links"]]
    assert ids[:3] == ["what-survived-distillation", "findings", "summary"], ids
    assert all(link["found"] and link["visible"] for link in out["links"]), out["links"]


def test_first_screen_shows_the_answer_table_and_the_forest_plot(probed):
    """At 1280 x 900 the answer table ends, and the forest plot starts, on the first screen;
    the page does not scroll sideways."""
    out, _ = probed
    first = out["first"]
    assert first["forestAlt"] == "forest"
    assert first["answerBottom"] is not None and first["answerBottom"] < 900, first
    assert first["forestTop"] < 900 - 100, first
    assert first["width"] <= 1280, first


def test_clicking_a_header_sorts_numerically(probed):
    out, _ = probed
    values = [float(v.split("±")[0].replace("−", "-").rstrip("ᵇ† ")) for v in out["sort"]
              if v.strip() != "—"]
    assert len(values) >= 5 and values == sorted(values)


def test_negative_control_the_probe_sees_an_overlap(tmp_path):
    """A page whose caption is pulled up over its image must be reported."""
    page = tmp_path / "bad.html"
    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
    page.write_text("<html><body><h2 id='summary'>s</h2><table><thead><tr><th>m</th><th>ID NLL</th>"
                    "</tr></thead><tbody><tr><td>abc</td><td><span style='position:relative;left:-60px'>"
                    "1.000</span></td></tr></tbody></table>"
                    f"<h3>t</h3><figure><img alt='x' width=300 height=200 src='data:image/png;base64,{png}'>"
                    "<figcaption style='margin-top:-150px'>Figure 1. c</figcaption></figure>"
                    + PROBE + "</body></html>")
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180)
    m = re.search(r'<pre id="kd-probe">(.*?)</pre>', proc.stdout, re.S)
    out = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert out["figures"][0]["overlaps"][1] and not out["figures"][0]["ordered"]
    assert out["table"] and out["table"][0][2:] == ["abc", "1.000"]
