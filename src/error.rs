//! Problems with the user's input: each one names the file (and line), the app and object it
//! concerns, what is wrong and what to do. Callers collect them so that one run reports all.

use std::fmt;
use std::path::{Path, PathBuf};

/// Exit codes, as `kubectl diff` and `git diff --exit-code` use them.
pub mod exit {
    pub const OK: u8 = 0;
    pub const CHANGES: u8 = 1;
    pub const ERROR: u8 = 2;
    /// `apply --wait` ran out of time before everything was ready.
    pub const TIMED_OUT: u8 = 3;
}

/// A place in a file: `file`, `file:line` or `file:line:column` (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: Option<u64>,
    pub column: Option<u64>,
}

impl Location {
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Location {
            file: file.into(),
            line: None,
            column: None,
        }
    }

    pub fn at(file: impl Into<PathBuf>, line: Option<u64>, column: Option<u64>) -> Self {
        Location {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// One thing wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: Option<Location>,
    /// The channel (or channels, `test, prod`) whose render or run failed.
    pub channel: Option<String>,
    pub app: Option<String>,
    pub object: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(message: impl Into<String>) -> Self {
        Problem {
            location: None,
            channel: None,
            app: None,
            object: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub fn in_file(self, file: impl Into<PathBuf>) -> Self {
        self.at(Location::file(file))
    }

    pub fn app(mut self, app: impl Into<String>) -> Self {
        self.app = Some(app.into());
        self
    }

    pub fn object(mut self, object: impl Into<String>) -> Self {
        self.object = Some(object.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// An I/O failure on `path`, e.g. a file that cannot be read.
    pub fn io(path: &Path, err: &std::io::Error) -> Self {
        Problem::new(format!("cannot read: {err}")).in_file(path)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        if let Some(channel) = &self.channel {
            match channel.contains(", ") {
                true => write!(f, "channels {channel}, ")?,
                false => write!(f, "channel {channel}, ")?,
            }
        }
        match (&self.app, &self.object) {
            (Some(app), Some(object)) => write!(f, "app {app}, {object}: ")?,
            (Some(app), None) => write!(f, "app {app}: ")?,
            (None, Some(object)) => write!(f, "{object}: ")?,
            (None, None) => {}
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Everything wrong with the input that one run found; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn one(problem: Problem) -> Self {
        Problems(vec![problem])
    }

    /// `Ok(())` when nothing was found, else all of it.
    pub fn check(found: Vec<Problem>) -> Result<(), Problems> {
        if found.is_empty() {
            Ok(())
        } else {
            Err(Problems(found))
        }
    }
}

impl Problems {
    /// Name `channel` in every problem that names none, and merge a problem found the same in
    /// several channels (a missing file of an app they share) into one naming them all.
    pub fn merge_channels(found: impl IntoIterator<Item = (String, Problem)>) -> Vec<Problem> {
        let mut merged: Vec<Problem> = Vec::new();
        for (channel, mut problem) in found {
            if problem.channel.is_some() {
                merged.push(problem);
                continue;
            }
            match merged.iter_mut().find(|p| {
                p.channel.is_some()
                    && Problem {
                        channel: None,
                        ..(*p).clone()
                    } == problem
            }) {
                Some(same) => {
                    let names = same.channel.as_mut().expect("found by its channel");
                    if !names.split(", ").any(|n| n == channel) {
                        names.push_str(", ");
                        names.push_str(&channel);
                    }
                }
                None => {
                    problem.channel = Some(channel);
                    merged.push(problem);
                }
            }
        }
        merged
    }
}

impl From<Problem> for Problems {
    fn from(problem: Problem) -> Self {
        Problems::one(problem)
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl std::error::Error for Problem {}

/// A kube error without the full Status dump its `Display` carries.
pub fn kube_error(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => {
            format!("{} {}: {}", status.code, status.reason, status.message)
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(inner) = source {
                text = format!("{text}: {inner}");
                source = inner.source();
            }
            text
        }
    }
}
