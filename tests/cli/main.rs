//! The `demo` and `check` commands, run as a user runs them: the real binary, configured only
//! through its environment (and `--config`), against the simulator in this process.

mod check;
mod companies;
mod demo;
mod discover;
mod helpers;
mod tls;
