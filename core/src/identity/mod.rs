//! Identity rules that need no I/O: which passwords and emails are
//! acceptable, how TOTP codes are checked, when an account locks.

pub mod alerts;
pub mod email;
pub mod lockout;
pub mod password;
pub mod totp;
