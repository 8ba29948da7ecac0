//! Data checks (Initialize / Manipulate / Validate) in the testdrive dialect: the script
//! language ([`script`]), checks and where they come from ([`library`]), and the runner's pure
//! decisions ([`runner`]): what is safe to repeat, whether a result is the expected one, and
//! how a check's record moves; values shown as testdrive shows them ([`render`]). The operator
//! does the IO.

pub mod library;
pub mod render;
pub mod runner;
pub mod script;
