//! A self-contained HTML page for one run: a timeline chart (a bar per step from its start
//! for its duration, coloured by result, with a dot per check coloured by the check's result,
//! and a red band across the chart for each time clients could not query)
//! drawn in the browser from the timeline embedded as JSON, and below it the step table and
//! every failed check's statement and diff, written out as HTML so the page reads without
//! script too. No external resource: it can be attached to a CI job and opened offline.

use super::timeline::Timeline;

/// HTML-escapes text for element content and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = r#"
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
.meta { color: #555; margin-bottom: 1em; }
svg text { font: 12px system-ui, sans-serif; }
.bar.Succeeded { fill: #3a9d5d; } .bar.Failed { fill: #d9453d; }
.bar.Running { fill: #e0a526; } .bar.Pending, .bar.Skipped { fill: #bbb; }
.check.Passed { fill: #3a9d5d; } .check.Failed { fill: #d9453d; }
.check.Skipped, .check.Pending, .check.Running { fill: #bbb; }
.axis { stroke: #999; }
.down { fill: #d9453d; fill-opacity: 0.25; }
table { border-collapse: collapse; margin-top: 1.5em; }
td, th { border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.Failed td { background: #fdeceb; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
"#;

/// Draws the chart into `svg#chart` from `script#timeline`; sets `data-drawn` when done (what
/// the browser test waits for).
const SCRIPT: &str = r#"
(function () {
  const t = JSON.parse(document.getElementById('timeline').textContent);
  const svg = document.getElementById('chart');
  const ns = 'http://www.w3.org/2000/svg';
  const row = 24, left = 260, width = 760, top = 10;
  const total = Math.max(t.durationSeconds || 0, 0.001);
  const scale = width / total;
  function el(name, attrs, text) {
    const e = document.createElementNS(ns, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  t.steps.forEach(function (s, i) {
    const y = top + i * row;
    const label = s.number + ' ' + [s.action, s.service, s.version].filter(Boolean).join(' ');
    svg.appendChild(el('text', {x: 0, y: y + 15, class: 'label'}, label));
    if (s.offsetSeconds === null || s.offsetSeconds === undefined) return;
    const w = Math.max((s.durationSeconds || 0) * scale, 2);
    const bar = el('rect', {x: left + s.offsetSeconds * scale, y: y + 3, width: w, height: row - 8,
      class: 'bar ' + s.state, 'data-step': s.number});
    bar.appendChild(el('title', {}, label + ': ' + s.state +
      (s.durationSeconds != null ? ' in ' + s.durationSeconds.toFixed(2) + ' s' : '')));
    svg.appendChild(bar);
    s.checks.forEach(function (c, j) {
      const dot = el('circle', {cx: left + s.offsetSeconds * scale + w + 8 + j * 9, cy: y + row / 2 - 1,
        r: 3.5, class: 'check ' + c.state, 'data-step': s.number, 'data-check': c.name});
      dot.appendChild(el('title', {}, c.name + ': ' + c.state + (c.reason ? ' (' + c.reason + ')' : '')));
      svg.appendChild(dot);
    });
  });
  const bottom = top + t.steps.length * row + 4;
  t.steps.forEach(function (s) {
    (s.downtime ? s.downtime.windows : []).forEach(function (w) {
      const mark = el('rect', {x: left + w.offsetSeconds * scale, y: top,
        width: Math.max(w.durationSeconds * scale, 1), height: bottom - top, class: 'down',
        'data-step': s.number});
      mark.appendChild(el('title', {}, 'clients could not query for ' +
        w.durationSeconds.toFixed(3) + ' s: ' + w.error));
      svg.appendChild(mark);
    });
  });
  svg.appendChild(el('line', {x1: left, y1: bottom, x2: left + width, y2: bottom, class: 'axis'}));
  for (let k = 0; k <= 4; k++) {
    const x = left + (width * k) / 4;
    svg.appendChild(el('text', {x: x - 10, y: bottom + 16, class: 'tick'}, (total * k / 4).toFixed(1) + ' s'));
  }
  svg.setAttribute('height', bottom + 24);
  svg.setAttribute('width', left + width + 200);
  svg.setAttribute('data-drawn', 'true');
})();
"#;

/// The page.
pub fn render(t: &Timeline) -> String {
    // The JSON sits in a script element: no `<` may start a tag or comment there. JSON has
    // `<` only inside strings, where `\u003c` means the same.
    let data = serde_json::to_string(t)
        .expect("a timeline serializes")
        .replace('<', "\\u003c");
    let title = format!("{}/{}", t.namespace, t.name);
    let mut rows = String::new();
    let mut failures = String::new();
    for s in &t.steps {
        let secs = |v: Option<f64>| v.map_or("-".into(), |d| format!("{d:.2} s"));
        rows.push_str(&format!(
            "<tr class=\"{state}\"><td class=\"num\">{n}{star}</td><td>{action}</td><td>{svc}</td><td>{ver}</td><td class=\"num\">{start}</td><td class=\"num\">{dur}</td><td class=\"num\">{down}</td><td>{state}</td><td>{checks}</td><td>{msg}</td></tr>\n",
            state = format!("{:?}", s.state),
            n = s.number,
            star = if s.implicit { "*" } else { "" },
            action = esc(&s.action),
            svc = esc(s.service.as_deref().unwrap_or("")),
            ver = esc(s.version.as_deref().unwrap_or("")),
            start = secs(s.offset_seconds),
            dur = secs(s.duration_seconds),
            down = s.downtime.as_ref().map_or("-".into(), |d| d.short()),
            checks = s.checks.len(),
            msg = esc(s.message.as_deref().unwrap_or("").lines().next().unwrap_or("")),
        ));
        for c in s.checks.iter().filter(|c| c.failed()) {
            let body: Vec<&str> = [c.statement.as_deref(), c.diff.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            failures.push_str(&format!(
                "<h3>Step {} {}: check {} failed</h3>\n<p>{}</p>\n<pre>{}</pre>\n",
                s.number,
                esc(&s.label()),
                esc(&c.name),
                esc(c.reason.as_deref().unwrap_or("")),
                esc(&body.join("\n"))
            ));
        }
    }
    let meta = format!(
        "{} · {}{}{}",
        esc(&t.scenario),
        esc(&t.phase),
        t.version
            .as_deref()
            .map(|v| format!(" · Materialize {}", esc(v)))
            .unwrap_or_default(),
        t.duration_seconds
            .map(|d| format!(" · {d:.1} s"))
            .unwrap_or_default()
    ) + &t
        .downtime
        .as_ref()
        .map(|d| format!(" · client downtime {}", esc(&d.summary)))
        .unwrap_or_default();
    let message = t
        .message
        .as_deref()
        .map(|m| format!("<p class=\"message\">{}</p>\n", esc(m)))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>ScenarioRun {t_title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>ScenarioRun {t_title}</h1>\n<div class=\"meta\">{meta}</div>\n{message}<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"step timeline\"></svg>\n<table>\n<tr><th>#</th><th>Action</th><th>Service</th><th>Version</th><th>Start</th><th>Duration</th><th>Downtime</th><th>Result</th><th>Checks</th><th>Message</th></tr>\n{rows}</table>\n{failures}<script type=\"application/json\" id=\"timeline\">{data}</script>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        t_title = esc(&title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::timeline::tests::failed_run;

    #[test]
    fn the_page_embeds_the_timeline_and_writes_failures_out() {
        let page = render(&Timeline::of(&failed_run()));
        assert!(page.contains("<h1>ScenarioRun ns/zdt</h1>"));
        assert!(
            page.contains(
                "<h3>Step 4 Validate mz-2 v26.3.0: check Views &amp; &lt;Joins&gt; failed</h3>"
            ),
            "{page}"
        );
        assert!(page.contains("<pre>&gt; SELECT a FROM v\nrows differ:\n- 1\n+ 2</pre>"));
        // The data cannot close its script element, and no external resource is referenced.
        let data = page.split("id=\"timeline\">").nth(1).unwrap();
        let data = data.split("</script>").next().unwrap();
        assert!(!data.contains('<'));
        let back: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(back["steps"][3]["checks"][1]["name"], "Views & <Joins>");
        assert_eq!(back["steps"].as_array().unwrap().len(), 5);
        assert!(!page.contains("src=") && !page.contains("href="));
    }
}
