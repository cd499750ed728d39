//! The gatekeeper-library suites of every template with a CEL block, run through this engine.
