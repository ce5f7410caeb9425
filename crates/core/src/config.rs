//! Configuration errors: what is wrong with a setting, and where.

use alloc::string::String;
use core::fmt;

/// A configuration value that cannot be used. Raised when configuration is
/// loaded, never per request; the message names the field and says what to fix.
/// Secrets never appear in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The field, as spelled in the configuration (e.g. `issuer`, `leeway`).
    pub field: String,
    /// What is wrong with it and what to do.
    pub message: String,
}

impl ConfigError {
    /// Builds a configuration error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: `{}`: {}", self.field, self.message)
    }
}

impl core::error::Error for ConfigError {}
