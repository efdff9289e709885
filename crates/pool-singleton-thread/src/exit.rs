//! Running code when a thread ends.

use std::cell::RefCell;

/// Callbacks to run when the current thread ends.
struct ExitHooks(RefCell<Vec<Box<dyn FnOnce()>>>);

impl Drop for ExitHooks {
    fn drop(&mut self) {
        for hook in self.0.take() {
            hook();
        }
    }
}

thread_local! {
    static HOOKS: ExitHooks = const { ExitHooks(RefCell::new(Vec::new())) };
}

/// Runs `hook` when the current thread ends. Returns `false` (and drops the hook) if the
/// thread is already ending.
pub(crate) fn at_thread_exit(hook: impl FnOnce() + 'static) -> bool {
    HOOKS.try_with(|h| h.0.borrow_mut().push(Box::new(hook))).is_ok()
}
