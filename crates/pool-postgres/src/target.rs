//! Several hosts, and the kind of server a connection must land on: libpq's
//! `target_session_attrs`, and what a failover looks like to the pool.

use postgres::config::TargetSessionAttrs;
use postgres::error::SqlState;

use crate::connector::Target;

/// Which of the configured hosts a connection may use (libpq's `target_session_attrs`).
///
/// Give several hosts in the URL (`postgres://app@db1:5432,db2:5432/app`) or the
/// configuration; each connect tries them in order and keeps the first server of the
/// kind asked for. `target_session_attrs=read-write` (or `read-only`, `any`) in the URL
/// sets it as well; [`with_target_session`](crate::PostgresConnector::with_target_session)
/// adds `PreferStandby`, which the driver does not parse.
///
/// ```
/// use pool_postgres::{PostgresConnector, TargetSession};
///
/// let url = "postgres://app@127.0.0.1:5433,127.0.0.1:5434/app?target_session_attrs=read-write";
/// let connector = PostgresConnector::new(url).unwrap();
/// assert_eq!(connector.target_session(), TargetSession::ReadWrite);
/// let reader = PostgresConnector::new("postgres://app@db1,db2/app")
///     .unwrap()
///     .with_target_session(TargetSession::PreferStandby);
/// assert_eq!(reader.target_session(), TargetSession::PreferStandby);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TargetSession {
    /// The first server that accepts the connection (the default).
    #[default]
    Any,
    /// A server that accepts writes: the primary. The driver asks each server
    /// (`SHOW transaction_read_only`) and skips standbys. An error saying the session
    /// is read-only (SQLSTATE 25006, `cannot execute ... in a read-only transaction`)
    /// then counts as a disconnect: the server was demoted under the pool, so the
    /// connection and the pool generation are invalidated and the next connects find
    /// the new primary.
    ReadWrite,
    /// A server that accepts only reads: a standby.
    ReadOnly,
    /// A standby if one answers, else any server (libpq's `prefer-standby`): each
    /// connect tries for a read-only server first, then for any.
    PreferStandby,
}

impl TargetSession {
    /// The kind the driver configuration asks for.
    pub(crate) fn of<T: Target>(config: &T) -> Self {
        match config.target_attrs() {
            TargetSessionAttrs::ReadWrite => TargetSession::ReadWrite,
            TargetSessionAttrs::ReadOnly => TargetSession::ReadOnly,
            _ => TargetSession::Any,
        }
    }

    /// What the driver is told to look for (a preferred standby is looked for first
    /// with [`standby_first`](Self::standby_first)).
    pub(crate) fn attrs(self) -> TargetSessionAttrs {
        match self {
            TargetSession::ReadWrite => TargetSessionAttrs::ReadWrite,
            TargetSession::ReadOnly => TargetSessionAttrs::ReadOnly,
            TargetSession::Any | TargetSession::PreferStandby => TargetSessionAttrs::Any,
        }
    }

    /// For `PreferStandby`, the configuration of the first attempt: read-only servers
    /// only. `None` for the others: one attempt with the configuration as it is.
    pub(crate) fn standby_first<T: Target>(self, config: &T) -> Option<T> {
        (self == TargetSession::PreferStandby).then(|| {
            let mut standby = config.clone();
            standby.set_target_attrs(TargetSessionAttrs::ReadOnly);
            standby
        })
    }

    /// Whether `error` says this session may not write although the connection was
    /// opened for writing: under `ReadWrite`, SQLSTATE 25006.
    pub(crate) fn refused_by(self, error: &postgres::Error) -> bool {
        self == TargetSession::ReadWrite
            && error.code() == Some(&SqlState::READ_ONLY_SQL_TRANSACTION)
    }
}
