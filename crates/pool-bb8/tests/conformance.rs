//! The whole conformance suite on the adapter over bb8-postgres's manager, in every
//! strategy (`pool_conformance::harnesses::all()`), on the server named by
//! `POOL_TEST_POSTGRES_URL`. Without it every check skips, saying so. The same checks
//! run in each strategy's own `tests/conformance.rs` and in `cargo xtask conformance`
//! (column `bb8-postgres`).

use pool_conformance::{harnesses, BackendKind, Skip};

/// Runs every check of `implementation` on bb8-postgres; a failing check panics.
fn suite(implementation: &str) {
    let imp = harnesses::all().into_iter().find(|i| i.name == implementation).expect("known");
    let mut skipped = Vec::new();
    for check in imp.checks {
        if let Err(Skip(reason)) = (check.run)(BackendKind::Bb8Postgres) {
            skipped.push(format!("{}: {reason}", check.name));
        }
    }
    println!("{implementation}: {} checks skipped", skipped.len());
    for line in skipped {
        println!("  skipped {line}");
    }
}

macro_rules! stamp {
    ($($test:ident => $harness:ty),* $(,)?) => {$(
        #[test]
        fn $test() {
            suite(<$harness as pool_conformance::Harness>::NAME);
        }
    )*};
}

stamp! {
    queue_pool => harnesses::QueueHarness,
    null_pool => harnesses::NullHarness,
    singleton_thread_pool => harnesses::SingletonThreadHarness,
    static_pool => harnesses::StaticHarness,
    assertion_pool => harnesses::AssertionHarness,
    queue_pool_async => harnesses::QueueAsyncHarness,
    null_pool_async => harnesses::NullAsyncHarness,
    static_pool_async => harnesses::StaticAsyncHarness,
    assertion_pool_async => harnesses::AssertionAsyncHarness,
}
