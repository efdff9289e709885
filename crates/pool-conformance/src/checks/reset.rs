//! Checks: reset (being ported).
