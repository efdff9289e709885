//! The connection record (SQLAlchemy's `_ConnectionRecord`) and its typed `info` maps.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::time::Instant;

use crate::Connector;

/// A map from type to value, for per-connection state (SQLAlchemy's `info` dicts).
///
/// Empty maps allocate nothing.
///
/// ```
/// use pool_core::Info;
///
/// #[derive(Debug, PartialEq)]
/// struct SearchPath(&'static str);
///
/// let mut info = Info::new();
/// info.insert(SearchPath("public"));
/// assert_eq!(info.get::<SearchPath>(), Some(&SearchPath("public")));
/// info.clear();
/// assert!(info.is_empty());
/// ```
#[derive(Default)]
pub struct Info {
    map: Option<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
}

impl Info {
    /// An empty map.
    pub const fn new() -> Self {
        Info { map: None }
    }

    /// Stores `value`, returning the value of the same type it replaces.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) -> Option<T> {
        self.map
            .get_or_insert_with(Default::default)
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|old| old.downcast().ok().map(|b: Box<T>| *b))
    }

    /// The stored value of type `T`.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.map.as_ref()?.get(&TypeId::of::<T>())?.downcast_ref()
    }

    /// The stored value of type `T`, mutably.
    pub fn get_mut<T: Any + Send + Sync>(&mut self) -> Option<&mut T> {
        self.map.as_mut()?.get_mut(&TypeId::of::<T>())?.downcast_mut()
    }

    /// The stored value of type `T`, inserting `default()` first if there is none.
    pub fn get_or_insert_with<T: Any + Send + Sync>(
        &mut self,
        default: impl FnOnce() -> T,
    ) -> &mut T {
        self.map
            .get_or_insert_with(Default::default)
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(default()))
            .downcast_mut()
            .expect("an Info entry is stored under its own TypeId")
    }

    /// Removes and returns the stored value of type `T`.
    pub fn remove<T: Any + Send + Sync>(&mut self) -> Option<T> {
        self.map
            .as_mut()?
            .remove(&TypeId::of::<T>())
            .and_then(|old| old.downcast().ok().map(|b: Box<T>| *b))
    }

    /// Whether a value of type `T` is stored.
    pub fn contains<T: Any + Send + Sync>(&self) -> bool {
        self.map.as_ref().is_some_and(|m| m.contains_key(&TypeId::of::<T>()))
    }

    /// How many values are stored.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        if let Some(map) = &mut self.map {
            map.clear();
        }
    }
}

impl fmt::Debug for Info {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Info").field("len", &self.len()).finish()
    }
}

/// A callback run with the connection when it is next returned to the pool.
pub(crate) type Finalizer<C> =
    Box<dyn FnOnce(Option<&mut <C as Connector>::Connection>) + Send + 'static>;

/// What the pool knows about one pooled connection (SQLAlchemy's `_ConnectionRecord`).
///
/// A record outlives its connections: when a connection is invalidated or recycled the
/// record stays in the pool and connects again at its next checkout. Listeners receive it
/// beside the connection.
pub struct ConnectionRecord<C: Connector> {
    pub(crate) id: u64,
    pub(crate) opened_at: Option<Instant>,
    /// When the connection reaches its `max_lifetime` (jitter included).
    pub(crate) expires_at: Option<Instant>,
    /// When the connection last came back to the pool (kept only under `idle_timeout`
    /// or `keepalive`).
    pub(crate) idle_since: Option<Instant>,
    /// When the connection was last known to work while idle: its return, or its last
    /// keepalive ping.
    pub(crate) alive_at: Option<Instant>,
    /// When the connection was checked out (kept only while hold times are measured).
    pub(crate) checked_out_at: Option<Instant>,
    pub(crate) generation: u64,
    pub(crate) soft_invalidated: bool,
    pub(crate) fresh: bool,
    pub(crate) info: Info,
    pub(crate) record_info: Info,
    pub(crate) finalizers: Vec<Finalizer<C>>,
}

impl<C: Connector> ConnectionRecord<C> {
    pub(crate) fn new(id: u64) -> Self {
        ConnectionRecord {
            id,
            opened_at: None,
            expires_at: None,
            idle_since: None,
            alive_at: None,
            checked_out_at: None,
            generation: 0,
            soft_invalidated: false,
            fresh: false,
            info: Info::new(),
            record_info: Info::new(),
            finalizers: Vec::new(),
        }
    }

    /// A number that identifies this record within its pool, as the logs show it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// When the current connection was opened (read before connecting), on the monotonic
    /// clock; `None` when the record has never connected.
    pub fn opened_at(&self) -> Option<Instant> {
        self.opened_at
    }

    /// When the connection reaches its `max_lifetime` (less its jitter), if that is set.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at
    }

    /// When the connection last came back to the pool; kept only when `idle_timeout` or
    /// `keepalive` is set (`None` otherwise, and before its first return).
    pub fn idle_since(&self) -> Option<Instant> {
        self.idle_since
    }

    /// The pool generation the current connection belongs to; connections of older
    /// generations are replaced at their next checkout.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether the current connection was soft-invalidated and will be replaced at its
    /// next checkout.
    pub fn is_soft_invalidated(&self) -> bool {
        self.soft_invalidated
    }

    /// Whether the current connection was opened and not yet through a checkout (a fresh
    /// connection is not pinged).
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// State that belongs to the current connection; cleared when it is replaced.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// State that belongs to the current connection, mutably.
    pub fn info_mut(&mut self) -> &mut Info {
        &mut self.info
    }

    /// State that lives as long as the record, across reconnects.
    pub fn record_info(&self) -> &Info {
        &self.record_info
    }

    /// State that lives as long as the record, mutably.
    pub fn record_info_mut(&mut self) -> &mut Info {
        &mut self.record_info
    }

    /// Registers `f` to run, with the connection, when the connection is next returned
    /// (before the `checkin` event); callbacks run last-registered first. A connection
    /// that is closed first drops them without running them.
    pub fn add_finalizer(&mut self, f: impl FnOnce(Option<&mut C::Connection>) + Send + 'static) {
        self.finalizers.push(Box::new(f));
    }
}

impl<C: Connector> fmt::Debug for ConnectionRecord<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionRecord")
            .field("id", &self.id)
            .field("generation", &self.generation)
            .field("soft_invalidated", &self.soft_invalidated)
            .field("fresh", &self.fresh)
            .finish_non_exhaustive()
    }
}

/// A record together with its connection: what a strategy keeps and hands out.
///
/// Strategies move entries around without looking inside; the core opens, checks,
/// resets and closes the connections in them.
pub struct PoolEntry<C: Connector> {
    pub(crate) inner: Box<EntryInner<C>>,
}

pub(crate) struct EntryInner<C: Connector> {
    pub(crate) conn: Option<C::Connection>,
    pub(crate) record: ConnectionRecord<C>,
}

impl<C: Connector> PoolEntry<C> {
    pub(crate) fn new(id: u64) -> Self {
        PoolEntry { inner: Box::new(EntryInner { conn: None, record: ConnectionRecord::new(id) }) }
    }

    /// Whether the entry holds a connection (it does not after a hard invalidation).
    pub fn is_connected(&self) -> bool {
        self.inner.conn.is_some()
    }

    /// The entry's record.
    pub fn record(&self) -> &ConnectionRecord<C> {
        &self.inner.record
    }

    /// The entry's connection, if it has one.
    pub fn connection(&self) -> Option<&C::Connection> {
        self.inner.conn.as_ref()
    }
}

impl<C: Connector> fmt::Debug for PoolEntry<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolEntry")
            .field("record", &self.inner.record)
            .field("connected", &self.is_connected())
            .finish()
    }
}
