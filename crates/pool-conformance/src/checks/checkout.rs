//! Checks: checkout (being ported).
