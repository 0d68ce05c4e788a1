//! Pine Script: generating scripts for templates and reading users' own.
//!
//! Reading is done here, in Rust, with no parser service at run time: a
//! lexer that resolves Pine's indentation and line wrapping, a
//! recursive-descent parser for the statements and expressions the
//! analysis needs, and an evaluator for alert messages that checks them with
//! the webhook's own alert parser.

mod analyze;
mod ast;
mod generate;
mod lexer;
mod message;
mod parser;

pub use analyze::{
    Analysis, Context, Declaration, Finding, Input, Message, OrderCall, Severity, analyze,
};
pub use generate::{PineScript, PineTarget, generate};

/// Why a script could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl SyntaxError {
    pub(crate) fn new(line: usize, column: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            column,
            message: message.into(),
        }
    }
}
