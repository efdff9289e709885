//! Checks: concurrency (being ported).
