//! Checks: events (being ported).
