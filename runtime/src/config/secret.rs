//! Secrets: read from the environment or a file, never printed.

use std::fmt;
use std::path::Path;

use super::ConfigError;

/// A secret value (password, key). Its `Debug` and `Display` print
/// `[redacted]`, so it cannot leak through a log line or an error message.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value obtained elsewhere (a generated key in a test, a key
    /// read by a command-line tool) so it gets the same protection.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Resolves a secret from the environment variable `env_var`, or else from
    /// the file at `file` (empty = not configured), trailing newline removed.
    /// `Ok(None)` when neither is set. Files are how Kubernetes Secrets are
    /// mounted; environment variables are how they are injected otherwise.
    pub fn resolve(env_var: &str, file: &str) -> Result<Option<Secret>, ConfigError> {
        Self::resolve_with(std::env::var(env_var).ok(), env_var, file)
    }

    fn resolve_with(
        env: Option<String>,
        env_var: &str,
        file: &str,
    ) -> Result<Option<Secret>, ConfigError> {
        if let Some(v) = env.filter(|v| !v.is_empty()) {
            return Ok(Some(Secret(v)));
        }
        if file.is_empty() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(Path::new(file)).map_err(|e| ConfigError::Secret {
            name: file.to_string(),
            reason: format!("cannot read secret file ({e}); mount it or set {env_var} instead"),
        })?;
        let value = text.trim_end_matches(['\n', '\r']).to_string();
        if value.is_empty() {
            return Err(ConfigError::Secret {
                name: file.to_string(),
                reason: "secret file is empty".into(),
            });
        }
        Ok(Some(Secret(value)))
    }

    /// The secret itself; call only where it is handed to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_wins_then_file_and_nothing_is_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "hunter2\n").unwrap();
        let file = path.to_str().unwrap();
        let from_env = Secret::resolve_with(Some("s3cret".into()), "X", file)
            .unwrap()
            .unwrap();
        assert_eq!(from_env.expose(), "s3cret");
        let from_file = Secret::resolve_with(None, "X", file).unwrap().unwrap();
        assert_eq!(from_file.expose(), "hunter2");
        assert_eq!(
            format!("{from_file:?} {from_file}"),
            "[redacted] [redacted]"
        );
        assert!(Secret::resolve_with(None, "X", "").unwrap().is_none());
        let missing = Secret::resolve_with(None, "X", "/nonexistent/pw").unwrap_err();
        assert!(missing.to_string().contains("set X instead"), "{missing}");
    }
}
