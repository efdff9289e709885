#![doc = include_str!("../README.md")]

#[cfg(not(feature = "rt_tokio_1"))]
compile_error!(
    "pool-deadpool needs a runtime for its blocking calls: enable its `rt_tokio_1` feature (on by default)"
);

mod connector;
mod hooks;
mod reset;

pub use crate::connector::{Managed, ManagerConnector, ManagerError};
pub use crate::hooks::RecycleHook;
pub use crate::reset::Reset;
pub use deadpool;
#[cfg(feature = "postgres")]
pub use deadpool_postgres;
#[cfg(feature = "sqlite")]
pub use deadpool_sqlite;
pub use pool_core::rt::block_on_runtime;
