//! A small SQL lexer: enough to split statements, read their leading keywords and rewrite a few
//! Materialize-only spellings, without being fooled by quotes, dollar quotes or comments.

/// One token and where it sits in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Unquoted identifier or keyword.
    Word,
    /// `"identifier"`.
    QuotedIdent,
    /// `'string'`, `E'string'`, `$tag$string$tag$`.
    Str,
    Number,
    /// `$1`, `$2`, …
    Param,
    /// Any other single character (`;`, `(`, `.`, …).
    Symbol,
}

impl Token {
    pub fn text<'a>(&self, sql: &'a str) -> &'a str {
        &sql[self.start..self.end]
    }

    /// For words: the upper-cased keyword.
    pub fn upper(&self, sql: &str) -> Option<String> {
        (self.kind == Kind::Word).then(|| self.text(sql).to_ascii_uppercase())
    }

    /// The identifier's name: unquoted words fold to lower case, quoted ones are kept.
    pub fn ident(&self, sql: &str) -> Option<String> {
        match self.kind {
            Kind::Word => Some(self.text(sql).to_ascii_lowercase()),
            Kind::QuotedIdent => {
                let t = self.text(sql);
                Some(t[1..t.len() - 1].replace("\"\"", "\""))
            }
            _ => None,
        }
    }
}

/// Tokenizes `sql`; an unterminated quote or comment extends to the end (PostgreSQL reports it).
pub fn tokenize(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let n = bytes.len();
    while i < n {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'-' && bytes.get(i + 1) == Some(&b'-') {
            while i < n && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < n && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(n);
            continue;
        }
        let kind = if c == b'\'' || ((c == b'E' || c == b'e') && bytes.get(i + 1) == Some(&b'\'')) {
            if c != b'\'' {
                i += 1;
            }
            let escapes = c != b'\'';
            i += 1;
            while i < n {
                if escapes && bytes[i] == b'\\' {
                    i += 2;
                    continue;
                }
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i = (i + 1).min(n);
            Kind::Str
        } else if c == b'"' {
            i += 1;
            while i < n {
                if bytes[i] == b'"' {
                    if bytes.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i = (i + 1).min(n);
            Kind::QuotedIdent
        } else if c == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            while i < n && bytes[i].is_ascii_digit() {
                i += 1;
            }
            Kind::Param
        } else if c == b'$' {
            // Dollar quote: $tag$ … $tag$ (tag may be empty).
            let tag_end = sql[i + 1..].find('$').map(|p| i + 1 + p);
            let tag_ok = tag_end.is_some_and(|e| {
                sql[i + 1..e]
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            });
            match tag_end {
                Some(e) if tag_ok => {
                    let tag = &sql[i..=e];
                    let body = e + 1;
                    i = match sql[body..].find(tag) {
                        Some(p) => body + p + tag.len(),
                        None => n,
                    };
                    Kind::Str
                }
                _ => {
                    i += 1;
                    Kind::Symbol
                }
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            while i < n
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || bytes[i] == b'$'
                    || bytes[i] >= 0x80)
            {
                i += 1;
            }
            Kind::Word
        } else if c.is_ascii_digit() {
            while i < n && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                i += 1;
            }
            Kind::Number
        } else {
            i += sql[i..].chars().next().map_or(1, char::len_utf8);
            Kind::Symbol
        };
        out.push(Token {
            kind,
            start,
            end: i,
        });
    }
    out
}

/// Splits a query string into its statements (trimmed, without the `;`), dropping empty ones.
pub fn split(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    for t in tokenize(sql) {
        if t.kind == Kind::Symbol && t.text(sql) == ";" {
            out.push(sql[from..t.start].trim().to_string());
            from = t.end;
        }
    }
    out.push(sql[from..].trim().to_string());
    out.retain(|s| !tokenize(s).is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_quotes_comments_and_dollar_quotes() {
        let sql =
            "INSERT INTO t VALUES ('a;b'); -- c;\nSELECT \"x;\" FROM t; SELECT $$;$$; /* ; */ ;";
        assert_eq!(
            split(sql),
            [
                "INSERT INTO t VALUES ('a;b')",
                "-- c;\nSELECT \"x;\" FROM t",
                "SELECT $$;$$"
            ]
        );
    }

    #[test]
    fn tokens_know_their_kind() {
        let sql = "select E'it''s', $1, \"Q\"\"x\", 1.5e3 from t";
        let kinds: Vec<_> = tokenize(sql).iter().map(|t| t.kind).collect();
        use Kind::*;
        assert_eq!(
            kinds,
            [
                Word,
                Str,
                Symbol,
                Param,
                Symbol,
                QuotedIdent,
                Symbol,
                Number,
                Word,
                Word
            ]
        );
        let toks = tokenize(sql);
        assert_eq!(toks[5].ident(sql).as_deref(), Some("Q\"x"));
        assert_eq!(toks[0].upper(sql).as_deref(), Some("SELECT"));
    }
}
