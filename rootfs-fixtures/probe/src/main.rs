//! probe: a static binary that runs inside test containers and reports what
//! the runtime set up, as one JSON object on stdout.
//!
//! Usage: probe COMMAND [ARGS...]. Unknown commands or bad arguments exit 2
//! with a message on stderr; `exit N` exits with N; everything else exits 0
//! after printing its report (errors of the thing probed are part of the
//! report, as {"errno": N, "error": "..."}).

mod actions;
mod attack;
mod fsops;
mod json;
mod procinfo;
mod sched;
mod undo;

use json::J;

const USAGE: &str = "usage: probe all|ids|caps|rlimits|mounts|hostname|env|cwd|fds|ns|status [FIELD..]|\
sysctl NAME..|stat PATH..|read PATH|write PATH DATA|create PATH|mkdir PATH|ls DIR|cgroup|umask|\
oom_score_adj|personality|sched|ioprio|tty|pid|exit N|sleep SECS|spin SECS|alloc MIB|fork N|signal-wait|\
exe-hunt STOPFILE MATCH[,MATCH..] [POKE..]|undo WHAT ARGS..";

fn all() -> J {
    J::obj()
        .with("ids", procinfo::ids())
        .with("caps", procinfo::caps())
        .with("rlimits", procinfo::rlimits())
        .with("hostname", procinfo::hostname())
        .with("env", procinfo::env())
        .with("cwd", procinfo::cwd())
        .with("ns", procinfo::ns())
        .with("umask", procinfo::umask())
        .with("oom_score_adj", procinfo::oom_score_adj())
        .with("pid", procinfo::pid())
        .with("mounts", procinfo::mounts())
}

fn usage(msg: &str) -> ! {
    eprintln!("probe: {msg}\n{USAGE}");
    std::process::exit(2)
}

fn num<T: std::str::FromStr>(args: &[String], i: usize) -> T {
    match args.get(i).map(|a| a.parse()) {
        Some(Ok(v)) => v,
        _ => usage("missing or bad number"),
    }
}

fn arg(args: &[String], i: usize) -> &str {
    match args.get(i) {
        Some(a) => a,
        None => usage("missing argument"),
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = argv.first() else {
        usage("no command")
    };
    let rest = &argv[1..];
    let out = match cmd.as_str() {
        "all" => all(),
        "ids" => procinfo::ids(),
        "caps" => procinfo::caps(),
        "rlimits" => procinfo::rlimits(),
        "mounts" => procinfo::mounts(),
        "hostname" => procinfo::hostname(),
        "env" => procinfo::env(),
        "cwd" => procinfo::cwd(),
        "fds" => procinfo::fds(),
        "ns" => procinfo::ns(),
        "status" => procinfo::status(rest),
        "sysctl" => procinfo::sysctl(rest),
        "cgroup" => procinfo::cgroup(),
        "umask" => procinfo::umask(),
        "oom_score_adj" => procinfo::oom_score_adj(),
        "pid" => procinfo::pid(),
        "stat" => fsops::stat(rest),
        "read" => fsops::read(arg(rest, 0)),
        "open" => fsops::open(arg(rest, 0)),
        "write" => fsops::write(arg(rest, 0), arg(rest, 1)),
        "create" => fsops::create(arg(rest, 0)),
        "mkdir" => fsops::mkdir(arg(rest, 0)),
        "ls" => fsops::ls(arg(rest, 0)),
        "tty" => fsops::tty(),
        "keyring" => fsops::keyring(),
        "personality" => sched::personality(),
        "sched" => sched::sched(),
        "ioprio" => sched::ioprio(),
        "exit" => std::process::exit(num(rest, 0)),
        "sleep" => actions::sleep(num(rest, 0)),
        "spin" => actions::spin(num(rest, 0)),
        "alloc" => actions::alloc(num(rest, 0)),
        "fork" => actions::fork(num(rest, 0)),
        "signal-wait" => actions::signal_wait(),
        "exe-hunt" => attack::exe_hunt(rest),
        "undo" => undo::undo(rest),
        other => usage(&format!("unknown command {other}")),
    };
    println!("{}", out.render());
}
