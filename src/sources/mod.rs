//! Policy sources.
