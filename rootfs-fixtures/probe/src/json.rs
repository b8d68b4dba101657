//! A tiny JSON writer: the probe must stay dependency-free so that it builds
//! offline and stays small.

use std::fmt::Write;

pub enum J {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    pub fn obj() -> J {
        J::Obj(Vec::new())
    }

    pub fn str(s: impl Into<String>) -> J {
        J::Str(s.into())
    }

    /// Builder-style insert; only meaningful on objects.
    pub fn with(mut self, key: &str, v: J) -> J {
        self.set(key, v);
        self
    }

    pub fn set(&mut self, key: &str, v: J) {
        if let J::Obj(items) = self {
            items.push((key.to_string(), v));
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Int(i) => {
                let _ = write!(out, "{i}");
            }
            J::UInt(u) => {
                let _ = write!(out, "{u}");
            }
            J::Str(s) => escape(s, out),
            J::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            J::Obj(items) => {
                out.push('{');
                for (i, (k, v)) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    escape(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn escape(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An error value as every sub-command reports it: the errno and its text.
pub fn err(e: &std::io::Error) -> J {
    J::obj()
        .with("errno", J::Int(e.raw_os_error().unwrap_or(-1) as i64))
        .with("error", J::str(e.to_string()))
}
