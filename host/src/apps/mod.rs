//! Applications: launching one in its sandbox and display (`launcher`,
//! `instance`), its SDK socket (`sdk_server`), the runtime directories of
//! instances (`runtime`), and the records of what went wrong (`failures`).
//! The sandbox itself is OS glue and lives in `platform::sandbox`.

pub mod failures;
pub mod instance;
pub mod launcher;
pub mod runtime;
pub mod sdk_server;
