// The suite, in matrix order. Each entry is `module::check`; add a check here and it runs
// everywhere: in every harness's tests and in `cargo xtask conformance`.
// Check names must be unique across modules (they become test function names).
define_checks! {$
    base::rec_unconnected,
    // -- base, events (helper A) --
    // -- checkout, reset, failures (helper B) --
    // -- queue, concurrency (helper C) --
}
