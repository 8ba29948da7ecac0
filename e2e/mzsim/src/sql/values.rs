//! Values passed through untouched between the client and PostgreSQL: parameters in whatever
//! format the client bound them, result columns as PostgreSQL encoded them.

use std::error::Error;

use bytes::{BufMut, Bytes, BytesMut};
use pgwire::{
    api::Type,
    types::{ToSqlText, format::FormatOptions},
};
use tokio_postgres::types::{Format, FromSql, IsNull, ToSql, to_sql_checked};

/// Writes raw bytes as a value (or NULL): the same for parameters and results, in both formats.
fn put(bytes: Option<&[u8]>, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
    match bytes {
        None => Ok(IsNull::Yes),
        Some(b) => {
            out.put_slice(b);
            Ok(IsNull::No)
        }
    }
}

/// A bound parameter: the client's bytes and the format it chose.
#[derive(Debug)]
pub struct RawParam {
    pub bytes: Option<Bytes>,
    pub text: bool,
}

impl ToSql for RawParam {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        put(self.bytes.as_deref(), out)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        if self.text {
            Format::Text
        } else {
            Format::Binary
        }
    }

    to_sql_checked!();
}

/// A result column as PostgreSQL sent it (binary format), or text mzsim produced itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawValue(pub Option<Vec<u8>>);

impl<'a> FromSql<'a> for RawValue {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(RawValue(Some(raw.to_vec())))
    }

    fn from_sql_null(_ty: &Type) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(RawValue(None))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

impl ToSql for RawValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        // Binary jsonb is a version byte (1) and the text.
        if *ty == Type::JSONB
            && let Some([1, text @ ..]) = self.0.as_deref()
        {
            let text = super::jsonb::materialize_text(&String::from_utf8_lossy(text));
            out.put_u8(1);
            out.put_slice(text.as_bytes());
            return Ok(IsNull::No);
        }
        put(self.0.as_deref(), out)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl ToSqlText for RawValue {
    fn to_sql_text(
        &self,
        ty: &Type,
        out: &mut BytesMut,
        _options: &FormatOptions,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        if *ty == Type::JSONB
            && let Some(text) = self.0.as_deref()
        {
            let text = super::jsonb::materialize_text(&String::from_utf8_lossy(text));
            out.put_slice(text.as_bytes());
            return Ok(IsNull::No);
        }
        put(self.0.as_deref(), out)
    }
}
