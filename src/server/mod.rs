//! HTTPS server.
