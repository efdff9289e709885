#![doc = include_str!("../README.md")]

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use pool_conformance::{Script, ScriptedConnector};
use pool_core::{ConnectionRecord, ListenerError, Pool, PoolListener, ResetState, Strategy};

/// A small, fast, seedable generator (xorshift64*).
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// A listener whose events fail or panic when armed (each arm trips one call).
#[derive(Debug, Default)]
pub struct Faults {
    /// Armed checkout errors (each trips one call).
    pub checkout_errors: AtomicUsize,
    /// Armed checkout panics (each trips one call).
    pub checkout_panics: AtomicUsize,
    /// Armed reset panics (each trips one call).
    pub reset_panics: AtomicUsize,
    /// Armed checkin panics (each trips one call).
    pub checkin_panics: AtomicUsize,
    /// Armed close panics (each trips one call).
    pub close_panics: AtomicUsize,
    /// Armed detach panics (each trips one call).
    pub detach_panics: AtomicUsize,
}

fn trip(budget: &AtomicUsize) -> bool {
    budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
}

/// The scripted connection.
pub type Conn = pool_conformance::ScriptedConnection;

/// The message of every panic this test injects (the panic hook stays quiet for them).
pub const INJECTED: &str = "soak: injected";

impl PoolListener<ScriptedConnector> for Faults {
    fn checkout(
        &self,
        _: &mut Conn,
        _: &mut ConnectionRecord<ScriptedConnector>,
    ) -> Result<(), ListenerError> {
        if trip(&self.checkout_panics) {
            panic!("{INJECTED} checkout listener panic");
        }
        if trip(&self.checkout_errors) {
            return Err(ListenerError::new("soak: checkout refused"));
        }
        Ok(())
    }
    fn reset(
        &self,
        _: &mut Conn,
        _: Option<&mut ConnectionRecord<ScriptedConnector>>,
        _: ResetState,
    ) -> Result<(), ListenerError> {
        if trip(&self.reset_panics) {
            panic!("{INJECTED} reset listener panic");
        }
        Ok(())
    }
    fn checkin(&self, _: Option<&mut Conn>, _: &mut ConnectionRecord<ScriptedConnector>) {
        if trip(&self.checkin_panics) {
            panic!("{INJECTED} checkin listener panic");
        }
    }
    fn close(&self, _: &mut Conn, _: &mut ConnectionRecord<ScriptedConnector>) {
        if trip(&self.close_panics) {
            panic!("{INJECTED} close listener panic");
        }
    }
    fn detach(&self, _: &mut Conn, _: &mut ConnectionRecord<ScriptedConnector>) {
        if trip(&self.detach_panics) {
            panic!("{INJECTED} detach listener panic");
        }
    }
}

/// The listener a pool holds, sharing the test's [`Faults`].
#[derive(Debug)]
pub struct Shared(pub Arc<Faults>);

impl PoolListener<ScriptedConnector> for Shared {
    fn checkout(
        &self,
        c: &mut Conn,
        r: &mut ConnectionRecord<ScriptedConnector>,
    ) -> Result<(), ListenerError> {
        self.0.checkout(c, r)
    }
    fn reset(
        &self,
        c: &mut Conn,
        r: Option<&mut ConnectionRecord<ScriptedConnector>>,
        state: ResetState,
    ) -> Result<(), ListenerError> {
        self.0.reset(c, r, state)
    }
    fn checkin(&self, c: Option<&mut Conn>, r: &mut ConnectionRecord<ScriptedConnector>) {
        self.0.checkin(c, r)
    }
    fn close(&self, c: &mut Conn, r: &mut ConnectionRecord<ScriptedConnector>) {
        self.0.close(c, r)
    }
    fn detach(&self, c: &mut Conn, r: &mut ConnectionRecord<ScriptedConnector>) {
        self.0.detach(c, r)
    }
}

/// Quiets the panics this test injects (and the scripted connector's), keeping any other.
pub fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !(text.starts_with(INJECTED) || text.starts_with("scripted")) {
                default(info);
            }
        }));
    });
}

/// A pool of strategy `S` over a fresh script, with pre-ping and the faults' listener.
pub fn faulty_pool<S: Strategy<ScriptedConnector>>(
    config: S::Config,
) -> (Script, Arc<Faults>, Pool<ScriptedConnector, S>) {
    quiet_injected_panics();
    let script = Script::new();
    let faults = Arc::new(Faults::default());
    let pool = Pool::builder(script.connector())
        .pre_ping(true)
        .listener(Shared(Arc::clone(&faults)))
        .strategy(config)
        .build()
        .expect("valid settings");
    (script, faults, pool)
}
