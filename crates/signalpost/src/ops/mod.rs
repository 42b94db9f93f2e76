//! Operator tools, shared by the HTTP API and the CLI so both answer the same: the test postback
//! (`test_postback`), the dry run of the rules (`preview`), re-queuing parked conversions (`replay`),
//! the CSV backfill (`import`), and what the CLI needs to run them from a config file (`context`).

pub mod context;
pub mod import;
pub mod preview;
pub mod replay;
pub mod test_postback;
