//! Checks: queue (being ported).
