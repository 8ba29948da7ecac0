//! Reading a ScenarioRun manifest from YAML, with errors that name the field path and line.
//!
//! YAML is first read into JSON values (what the apiserver would hold), then into the typed
//! resource with `serde_path_to_error` for the field path; a separate pass over the parser's
//! events maps field paths to source lines, so planner errors can point at lines too.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser};

use crate::api::{GROUP, v1alpha1::ScenarioRun};

/// A problem with a manifest: where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{path}: {message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct ManifestError {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

/// A parsed manifest and the line of every field path in it.
pub struct Manifest {
    pub run: ScenarioRun,
    pub lines: LineIndex,
}

/// Parses one ScenarioRun from YAML text.
pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
    let lines = LineIndex::build(text);
    let value: serde_json::Value = serde_saphyr::from_str(text).map_err(|e| ManifestError {
        path: "(document)".to_string(),
        line: e.location().map(|l| l.line() as usize),
        message: format!("invalid YAML: {}", first_line(&e.to_string())),
    })?;
    let api_version = format!("{GROUP}/v1alpha1");
    let field = |name: &str| value.get(name).and_then(|v| v.as_str());
    let expect = [
        ("apiVersion", api_version.as_str()),
        ("kind", "ScenarioRun"),
    ];
    for (name, expected) in expect {
        if field(name) != Some(expected) {
            let found = field(name)
                .map(|f| format!("{f:?}"))
                .unwrap_or("nothing".into());
            return Err(ManifestError {
                path: name.to_string(),
                line: lines.line_of(name),
                message: format!("expected {expected:?}, found {found}"),
            });
        }
    }
    let run: ScenarioRun = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ManifestError {
            line: lines.line_of(&path),
            path,
            message: e.inner().to_string(),
        }
    })?;
    Ok(Manifest { run, lines })
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Field path (`spec.actions[3].tag`) → 1-based line of its key or item.
#[derive(Debug, Default)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

impl LineIndex {
    /// Indexes the first document; on a syntax error it keeps what it read before it.
    pub fn build(text: &str) -> LineIndex {
        let mut lines = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            let line = span.start.line();
            match event {
                Event::Scalar(value, ..) => {
                    if let Some(Frame::Map {
                        key: key @ None,
                        path,
                    }) = stack.last_mut()
                    {
                        let full = if path.is_empty() {
                            value.to_string()
                        } else {
                            format!("{path}.{value}")
                        };
                        lines.entry(full).or_insert(line);
                        *key = Some(value.to_string());
                    } else if let Some(p) = node_path(&mut stack) {
                        lines.entry(p).or_insert(line);
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let is_map = matches!(event, Event::MappingStart(..));
                    let path = node_path(&mut stack).unwrap_or_default();
                    lines.entry(path.clone()).or_insert(line);
                    stack.push(if is_map {
                        Frame::Map { path, key: None }
                    } else {
                        Frame::Seq { path, next: 0 }
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                Event::Alias(..) => {
                    node_path(&mut stack);
                }
                Event::DocumentEnd => break,
                _ => {}
            }
        }
        LineIndex { lines }
    }

    /// The line of `path`, or of its nearest ancestor that appears in the text.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path.to_string();
        loop {
            if let Some(line) = self.lines.get(&p) {
                return Some(*line);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }
}

/// The path of the node an event starts, if it is a value (not a mapping key), advancing the
/// enclosing frame past it.
fn node_path(stack: &mut [Frame]) -> Option<String> {
    match stack.last_mut() {
        None => Some(String::new()),
        Some(Frame::Seq { path, next }) => {
            *next += 1;
            Some(format!("{path}[{}]", *next - 1))
        }
        Some(Frame::Map { path, key }) => {
            let key = key.take()?;
            Some(if path.is_empty() {
                key
            } else {
                format!("{path}.{key}")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
apiVersion: mzcheck.dev/v1alpha1
kind: ScenarioRun
metadata:
  name: x
spec:
  versions:
    current: v26.2.0
  actions:
    - action: StartMz
      tag: last
    - action: Manipulate
      phase: 1
";

    #[test]
    fn maps_paths_to_lines() {
        let idx = LineIndex::build(TEXT);
        assert_eq!(idx.line_of("spec"), Some(5));
        assert_eq!(idx.line_of("spec.versions.current"), Some(7));
        assert_eq!(idx.line_of("spec.actions[0]"), Some(9));
        assert_eq!(idx.line_of("spec.actions[0].tag"), Some(10));
        assert_eq!(idx.line_of("spec.actions[1].phase"), Some(12));
        // Missing fields fall back to the nearest ancestor.
        assert_eq!(idx.line_of("spec.actions[1].mzService"), Some(11));
    }
}
