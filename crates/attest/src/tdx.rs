//! Intel TDX: the DCAP quote, Intel's collateral, Chiaro's TCB policy and reference values.

mod attributes;
mod collateral;
mod error;
mod quote;
mod reference;
mod tcb_status;
mod verify;

pub use attributes::TdAttributes;
pub use collateral::TdxCollateral;
pub use error::TdxRejection;
pub use quote::{Header, QeReport, Quote, TdReport};
pub use reference::TdxReferenceValues;
pub use tcb_status::{TcbStatus, UnknownTcbStatus};
pub use verify::verify;
