//! Data checks (Initialize / Manipulate / Validate) in the testdrive dialect. So far: the
//! script language ([`script`]); the check model, where checks live and the runner come next.

pub mod script;
