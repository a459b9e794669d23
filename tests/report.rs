//! Markdown report sizing: within GitHub's comment limit, or split into parts.
