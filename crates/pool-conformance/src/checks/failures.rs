//! Checks: failures (being ported).
