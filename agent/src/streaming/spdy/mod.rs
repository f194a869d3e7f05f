//! SPDY/3.1, as much as port-forwarding needs: framing, header compression
//! and the server side of a connection.

pub mod conn;
pub mod frame;
