//! `rt ps [--format table|json] ID [-- PS_ARGS]`: the container's processes,
//! taken from its cgroup (rootless without one: its pid namespace). `table`
//! runs the host's ps (like runc) and keeps the lines whose PID column
//! belongs to the container.

use std::process::Command;

use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::container::Container;
use crate::{Error, Result};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Output format: table or json.
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Container id.
    pub id: String,
    /// Options passed to ps (default: -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    let c = Container::load(&g.root, &a.id)?;
    let pids: Vec<i32> = c.pids()?.iter().map(|p| p.as_raw()).collect();
    drop(c);
    if a.format == "json" {
        println!("{}", serde_json::Value::from(pids));
        return Ok(0);
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args
    };
    let out = Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::io("run ps", e))?;
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    print!(
        "{}",
        filter_table(&String::from_utf8_lossy(&out.stdout), &pids)?
    );
    Ok(0)
}

/// Keep the header and the rows whose PID column is one of `pids`.
pub fn filter_table(table: &str, pids: &[i32]) -> Result<String> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or("");
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::Usage("ps output has no PID column".into()))?;
    let mut out = format!("{header}\n");
    for l in lines {
        let pid = l
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(l);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_pid_column() {
        let t = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 init\nroot 42 1 0 10:00 ? 00:00:00 sleep 1\n";
        let out = filter_table(t, &[42]).unwrap();
        assert_eq!(out.lines().count(), 2);
        assert!(out.contains("sleep 1"));
        assert!(filter_table("A B\n", &[1]).is_err());
    }
}
