//! Unit tests of the CEL engine, one feature at a time.
