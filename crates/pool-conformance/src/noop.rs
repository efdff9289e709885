//! A connector whose connections cost nothing, for benchmarks and allocation tests.

use std::convert::Infallible;

use pool_core::Connector;

/// Opens, resets and closes connections that are plain numbers; never fails.
///
/// Measuring a pool with it measures the pool alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopConnector;

impl Connector for NoopConnector {
    type Connection = u64;
    type Error = Infallible;
    // In-process: nothing to wait for, so a bounded connect needs no thread.
    const LOCAL: bool = true;

    fn connect(&self) -> Result<u64, Infallible> {
        Ok(0)
    }

    fn rollback(&self, _conn: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }

    fn commit(&self, _conn: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }

    fn ping(&self, _conn: &mut u64) -> Option<Result<(), Infallible>> {
        Some(Ok(()))
    }
}
