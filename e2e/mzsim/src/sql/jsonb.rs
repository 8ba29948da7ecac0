//! Materialize's jsonb text form: compact (no space after `:` or `,`) with object keys in byte
//! order, where PostgreSQL writes `{"b": 1, "aa": 2}` (spaces, keys shortest first). Scalars are
//! kept exactly as PostgreSQL wrote them (numbers are numeric text in both).

/// Rewrites PostgreSQL's jsonb text into Materialize's; text that does not parse is returned
/// unchanged (PostgreSQL only sends valid jsonb, so that would be a bug worth seeing as is).
pub fn materialize_text(pg: &str) -> String {
    let mut p = Parser {
        s: pg.as_bytes(),
        at: 0,
    };
    match p.value() {
        Some(v) if p.rest_is_blank() => {
            let mut out = String::with_capacity(pg.len());
            v.write(&mut out);
            out
        }
        _ => pg.to_string(),
    }
}

enum Value<'a> {
    /// A string (with its quotes and escapes), number, true, false or null, as written.
    Scalar(&'a str),
    Array(Vec<Value<'a>>),
    /// Keys with their quotes and escapes.
    Object(Vec<(&'a str, Value<'a>)>),
}

impl Value<'_> {
    fn write(&self, out: &mut String) {
        match self {
            Value::Scalar(s) => out.push_str(s),
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Value::Object(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn blank(&mut self) {
        while self.s.get(self.at).is_some_and(|c| c.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn rest_is_blank(&mut self) -> bool {
        self.blank();
        self.at == self.s.len()
    }

    fn text(&self, from: usize) -> &'a str {
        // Boundaries are ASCII punctuation, so the slice is valid UTF-8.
        std::str::from_utf8(&self.s[from..self.at]).unwrap_or("")
    }

    fn string(&mut self) -> Option<&'a str> {
        let from = self.at;
        self.at += 1;
        loop {
            match *self.s.get(self.at)? {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    return Some(self.text(from));
                }
                _ => self.at += 1,
            }
        }
    }

    fn value(&mut self) -> Option<Value<'a>> {
        self.blank();
        match *self.s.get(self.at)? {
            b'"' => self.string().map(Value::Scalar),
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                self.blank();
                if self.s.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    self.blank();
                    match *self.s.get(self.at)? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Some(Value::Array(items));
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.at += 1;
                let mut fields = Vec::new();
                loop {
                    self.blank();
                    match *self.s.get(self.at)? {
                        b'}' if fields.is_empty() => {
                            self.at += 1;
                            break;
                        }
                        b'"' => {}
                        _ => return None,
                    }
                    let key = self.string()?;
                    self.blank();
                    if self.s.get(self.at) != Some(&b':') {
                        return None;
                    }
                    self.at += 1;
                    fields.push((key, self.value()?));
                    self.blank();
                    match *self.s.get(self.at)? {
                        b',' => self.at += 1,
                        b'}' => {
                            self.at += 1;
                            break;
                        }
                        _ => return None,
                    }
                }
                // Byte order of the keys' text; PostgreSQL has already removed duplicates.
                fields.sort_by(|a, b| a.0.cmp(b.0));
                Some(Value::Object(fields))
            }
            _ => {
                let from = self.at;
                while self
                    .s
                    .get(self.at)
                    .is_some_and(|c| !matches!(c, b',' | b']' | b'}') && !c.is_ascii_whitespace())
                {
                    self.at += 1;
                }
                (self.at > from).then(|| Value::Scalar(self.text(from)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::materialize_text;

    #[test]
    fn compact_with_keys_in_byte_order() {
        assert_eq!(
            materialize_text(r#"{"b": 1, "aa": [1, "x y", {"d": null, "c": 1.50}]}"#),
            r#"{"aa":[1,"x y",{"c":1.50,"d":null}],"b":1}"#
        );
        assert_eq!(materialize_text(r#""a \" , : b""#), r#""a \" , : b""#);
        assert_eq!(materialize_text("[]"), "[]");
        assert_eq!(materialize_text("{}"), "{}");
        assert_eq!(materialize_text("-1.5e3"), "-1.5e3");
        assert_eq!(materialize_text("{\"a\": 1"), "{\"a\": 1");
    }
}
