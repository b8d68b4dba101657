//! Deriving a container's status from the kernel rather than trusting what
//! was written: a dead init is `stopped` whatever state.json says.

use std::fmt;
use std::fs;

use super::State;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// Field 22 (starttime) of /proc/PID/stat; None if the process is gone.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

fn parse_start_time(stat: &str) -> Option<u64> {
    // The command name may contain spaces and parentheses: split after the
    // last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s[s.rfind(')')? + 1..].trim_start().to_string();
            rest.chars().next()
        })
        .is_some_and(|c| c == 'Z' || c == 'X')
}

impl State {
    /// Is the recorded init still the same live process?
    pub fn init_alive(&self) -> bool {
        self.pid > 0
            && process_start_time(self.pid) == Some(self.pid_start_time)
            && !is_zombie(self.pid)
    }

    pub fn status(&self) -> Status {
        if self.pid <= 0 {
            return Status::Creating;
        }
        if !self.init_alive() {
            return Status::Stopped;
        }
        if self.creating {
            return Status::Creating;
        }
        if self.paused {
            Status::Paused
        } else if self.started {
            Status::Running
        } else {
            Status::Created
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_survives_odd_command_names() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 0 0";
        assert_eq!(parse_start_time(stat), Some(987654));
        assert_eq!(parse_start_time("garbage"), None);
    }

    #[test]
    fn own_process_is_alive() {
        let me = std::process::id() as i32;
        assert!(process_start_time(me).is_some());
    }
}
