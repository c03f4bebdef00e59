//! Text or JSON output, chosen once by `--json`.

use serde_json::Value;

/// Where command results go.
pub(crate) struct Output {
    json: bool,
    quiet: bool,
}

impl Output {
    pub(crate) fn new(json: bool) -> Output {
        Output { json, quiet: false }
    }

    /// True when printing JSON.
    pub(crate) fn is_json(&self) -> bool {
        self.json
    }

    /// An output that prints nothing (for clean-up work after the result).
    pub(crate) fn quiet(self) -> Output {
        Output { quiet: true, ..self }
    }

    /// A line of human-readable progress (text mode only).
    pub(crate) fn line(&self, text: impl AsRef<str>) {
        if !self.json && !self.quiet {
            println!("{}", text.as_ref());
        }
    }

    /// The command's result: `text` in text mode, `value` in JSON mode.
    pub(crate) fn result(&self, text: impl AsRef<str>, value: Value) {
        if self.quiet {
        } else if self.json {
            println!("{value}");
        } else if !text.as_ref().is_empty() {
            println!("{}", text.as_ref());
        }
    }

    /// A failure, with its chain of causes.
    pub(crate) fn error(&self, e: &anyhow::Error) {
        let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
        if self.json {
            println!("{}", serde_json::json!({ "ok": false, "error": chain.join(": ") }));
        } else {
            eprintln!("error: {}", chain.join(": "));
        }
    }
}
