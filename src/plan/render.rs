//! Printing a plan: a numbered table for people, JSON for tools.

use super::Plan;

/// `{"actions": [...], "baseVersion": ..., "requiresExternalIdempotence": ...}`, pretty-printed.
pub fn json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).expect("a plan always serializes")
}

/// A numbered table; implicit steps (inserted by enrichment) are marked `*`.
pub fn table(plan: &Plan) -> String {
    let rows: Vec<[String; 4]> = plan
        .actions
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let service = step.action.mz_service().unwrap_or("-").to_string();
            let details = details(&step.action);
            let mark = if step.implicit { "*" } else { " " };
            [
                format!("{}{mark}", i + 1),
                step.action.kind().to_string(),
                service,
                details,
            ]
        })
        .collect();
    let header = [
        "# ".to_string(),
        "ACTION".into(),
        "SERVICE".into(),
        "DETAILS".into(),
    ];
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line = format!(
            "{:>w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "\n{} steps, * = implicit (inserted by Scenario.run() enrichment); base version {}\n",
        plan.actions.len(),
        plan.gate.base_version
    ));
    out
}

/// The parameters of a step other than its service.
fn details(action: &super::Action) -> String {
    let summary = action.summary();
    match action.mz_service() {
        Some(svc) => summary
            .strip_prefix(svc)
            .unwrap_or(&summary)
            .trim()
            .to_string(),
        None => summary,
    }
}
