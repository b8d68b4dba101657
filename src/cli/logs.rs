//! `rt logs [-f] [--tail N] [--since T] [-t] ID`: a supervised
//! container's output from its CRI log, lines of its stdout on stdout and
//! of its stderr on stderr, across rotated files; `-f` follows the log
//! (across rotations) until the supervisor exits.

use std::collections::VecDeque;
use std::io::Write;

use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::supervise::logfile::Stream;
use crate::supervise::logread::{Line, Reader, Watch};
use crate::supervise::record;
use crate::supervise::units::{now_nanos, parse_duration, parse_rfc3339};
use crate::supervise::Error as SupError;
use crate::{Error, Result};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Keep printing new lines until the supervisor exits.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long)]
    pub tail: Option<usize>,
    /// Only lines since T: an RFC 3339 time, or a duration back from now
    /// (10m).
    #[arg(long)]
    pub since: Option<String>,
    /// Prefix every line with its time.
    #[arg(short, long)]
    pub timestamps: bool,
    pub id: String,
}

fn since(s: &str) -> Result<i128> {
    if let Some(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    let d = parse_duration(s)
        .map_err(|_| Error::Usage(format!("--since {s:?}: not an RFC 3339 time or a duration")))?;
    Ok(now_nanos() - d.as_nanos() as i128)
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    crate::state::validate_id(&a.id)?;
    let rec =
        record::read_in(&g.root, &a.id)?.ok_or_else(|| SupError::NotSupervised(a.id.clone()))?;
    let path = rec.config.log.path.clone();
    let since = a.since.as_deref().map(since).transpose()?;
    // Set up before the first read, so nothing written meanwhile is missed.
    let watch = if a.follow {
        Some(Watch::new(&path)?)
    } else {
        None
    };
    let supervisor = if a.follow {
        record::supervisor(&record::dir_of(&g.root, &a.id))
            .filter(|p| *p > 0)
            .and_then(crate::supervise::client::pidfd)
    } else {
        None
    };
    let mut out = Printer {
        timestamps: a.timestamps,
        since,
        closed: false,
    };
    let mut reader = Reader::new(&path);
    match a.tail {
        Some(n) => {
            let mut last = VecDeque::new();
            reader.read_available(&mut |l| {
                if out.wanted(&l) {
                    last.push_back(l);
                    if last.len() > n {
                        last.pop_front();
                    }
                }
            })?;
            for l in last {
                out.print(l);
            }
        }
        None => reader.read_available(&mut |l| out.print(l))?,
    }
    let (Some(watch), Some(sup)) = (watch, supervisor) else {
        return Ok(0);
    };
    while !out.closed {
        let gone = watch.wait(Some(&sup));
        reader.read_available(&mut |l| out.print(l))?;
        if gone {
            break;
        }
    }
    Ok(0)
}

struct Printer {
    timestamps: bool,
    since: Option<i128>,
    /// Our reader went away (`rt logs | head`): stop quietly.
    closed: bool,
}

impl Printer {
    fn wanted(&self, l: &Line) -> bool {
        self.since.is_none_or(|t| l.nanos() >= t)
    }

    fn print(&mut self, l: Line) {
        if self.closed || !self.wanted(&l) {
            return;
        }
        let mut buf = Vec::with_capacity(l.text.len() + 40);
        if self.timestamps {
            buf.extend_from_slice(l.ts.as_bytes());
            buf.push(b' ');
        }
        buf.extend_from_slice(&l.text);
        buf.push(b'\n');
        let r = match l.stream {
            Stream::Stdout => std::io::stdout().lock().write_all(&buf),
            Stream::Stderr => std::io::stderr().lock().write_all(&buf),
        };
        if r.is_err() {
            self.closed = true;
        }
    }
}
