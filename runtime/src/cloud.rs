//! Cloud drivers: how the service starts, stops and lists Cloud workers.
//!
//! Workers have deterministic names, `spequloscw-<dg>-<batch>-<worker>` (the original's
//! `spequloscw_` prefix): a worker recorded as starting can be recognised in the Cloud's list
//! even if the service died before it learnt the outcome of the start.
//!
//! [`CommandDriver`] runs user-configured command lines (SpeQuloS 0.3's "any command-line
//! program" driver), so any cloud CLI can be used. Placeholders `{name}`, `{batch}`, `{dg}` and
//! `{worker}` are replaced by single-quoted values; the command runs with `sh -c`. `list`
//! prints the names of the running workers, one per line.

use std::collections::BTreeMap;
use std::process::Command;

use serde::{Deserialize, Serialize};
use spequlos_core::check::{real, Checked, FieldError};
use spequlos_core::{BotKey, WorkerId};

use crate::store::{Store, StoreError, WorkerState};

#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("`{command}` could not run: {err}")]
    Spawn {
        command: String,
        err: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A Cloud provider as the Scheduler sees it.
pub trait CloudDriver {
    fn start(&mut self, name: &str, bot: &BotKey, worker: WorkerId) -> Result<(), CloudError>;
    fn stop(&mut self, name: &str) -> Result<(), CloudError>;
    /// Names of the workers running now.
    fn list(&mut self) -> Result<Vec<String>, CloudError>;
    /// What a running worker is doing, when the driver can tell (the core stops idle
    /// workers); drivers that cannot tell report busy, so workers run until the BoT ends.
    fn activity(&mut self, _name: &str) -> spequlos_core::Activity {
        spequlos_core::Activity::Busy
    }
    /// How many tasks the worker held at the last [`CloudDriver::activity`], when the driver
    /// can tell (the service finds copies that no running worker holds this way).
    fn held(&self, _name: &str) -> Option<u32> {
        None
    }
    /// Makes the worker's client contact the server now: to report finished results
    /// ([`spequlos_core::Activity::Owing`]) or to ask for work (`Asking`, `Waiting`). Returns
    /// whether the client was told (drivers space these out: see
    /// [`crate::client::POKE_INTERVAL`]).
    fn report(&mut self, _name: &str) -> Result<bool, CloudError> {
        Ok(false)
    }
    /// Called every few seconds by the service loop (e.g. to poke clients that stopped polling).
    fn maintain(&mut self) {}
}

/// The name of worker `worker` of `bot`: only `[A-Za-z0-9._-]`, so it is safe in a command line
/// and a valid instance name almost everywhere.
pub fn worker_name(bot: &BotKey, worker: WorkerId) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect::<String>()
    };
    format!(
        "spequloscw-{}-{}-{worker}",
        clean(&bot.dg),
        clean(&bot.batch)
    )
}

/// The `command` driver's configuration (`[cloud] driver = "command"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    pub start: String,
    pub stop: String,
    pub list: String,
    /// Prints the worker client's `boinccmd --get_tasks` and `boinccmd --get_project_status`
    /// (e.g. `ssh {name} 'boinccmd --get_tasks; boinccmd --get_project_status'`); without it
    /// the driver cannot tell what a worker does and reports busy, and without the project
    /// status a worker holding nothing counts as idle at once.
    #[serde(default)]
    pub tasks: Option<String>,
    /// Makes the worker's client contact the server now (e.g. `ssh {name} boinccmd --project
    /// URL update`).
    #[serde(default)]
    pub report: Option<String>,
    /// A worker that has shown no task yet counts as booting this long, seconds.
    #[serde(default = "default_boot_grace")]
    pub boot_grace: f64,
    /// A worker holding nothing must stay so this long (and have asked since) to count as
    /// idle, seconds (see `LocalConfig::ask_grace`).
    #[serde(default = "crate::local::default_ask_grace")]
    pub ask_grace: f64,
}

fn default_boot_grace() -> f64 {
    45.0
}

impl CommandConfig {
    /// Command lines non-empty; `boot_grace` and `ask_grace` in [0, 3600] s.
    /// Start, stop and list command lines; no `tasks` or `report` command, default graces.
    pub fn new(start: String, stop: String, list: String) -> CommandConfig {
        CommandConfig {
            start,
            stop,
            list,
            tasks: None,
            report: None,
            boot_grace: default_boot_grace(),
            ask_grace: crate::local::default_ask_grace(),
        }
    }

    pub fn validate(&self) -> Checked {
        let given = [
            ("start", Some(&self.start)),
            ("stop", Some(&self.stop)),
            ("list", Some(&self.list)),
            ("tasks", self.tasks.as_ref()),
            ("report", self.report.as_ref()),
        ];
        for (f, v) in given {
            if v.is_some_and(|v| v.trim().is_empty()) {
                return Err(FieldError::new(f, "\"\"", "a command line"));
            }
        }
        real("boot_grace", self.boot_grace, 0.0, 3600.0, "s")?;
        real("ask_grace", self.ask_grace, 0.0, 3600.0, "s")
    }
}

/// Runs configured command lines.
#[derive(Debug, Clone)]
pub struct CommandDriver {
    pub cfg: CommandConfig,
    watch: BTreeMap<String, crate::client::WorkerWatch>,
}

impl CommandDriver {
    pub fn new(cfg: CommandConfig) -> Self {
        CommandDriver {
            cfg,
            watch: BTreeMap::new(),
        }
    }
}

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

fn fill(template: &str, name: &str, bot: Option<&BotKey>, worker: Option<WorkerId>) -> String {
    let mut s = template.replace("{name}", &quote(name));
    if let Some(b) = bot {
        s = s
            .replace("{batch}", &quote(&b.batch))
            .replace("{dg}", &quote(&b.dg));
    }
    if let Some(w) = worker {
        s = s.replace("{worker}", &w.to_string());
    }
    s
}

fn run(command: &str) -> Result<String, CloudError> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(command)
        .output()
        .map_err(|err| CloudError::Spawn {
            command: command.to_string(),
            err,
        })?;
    if !out.status.success() {
        return Err(CloudError::Command {
            command: command.to_string(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl CloudDriver for CommandDriver {
    fn start(&mut self, name: &str, bot: &BotKey, worker: WorkerId) -> Result<(), CloudError> {
        run(&fill(&self.cfg.start, name, Some(bot), Some(worker)))?;
        self.watch.insert(name.to_string(), Default::default());
        Ok(())
    }

    fn stop(&mut self, name: &str) -> Result<(), CloudError> {
        self.watch.remove(name);
        run(&fill(&self.cfg.stop, name, None, None)).map(|_| ())
    }

    fn list(&mut self) -> Result<Vec<String>, CloudError> {
        Ok(run(&self.cfg.list)?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// The `local` driver's rule ([`crate::client::WorkerWatch`]) on the `tasks` command's
    /// output.
    fn activity(&mut self, name: &str) -> spequlos_core::Activity {
        let Some(cmd) = &self.cfg.tasks else {
            return spequlos_core::Activity::Busy;
        };
        let out = run(&fill(cmd, name, None, None)).ok();
        if out.is_none() && self.list().is_ok_and(|l| !l.iter().any(|n| n == name)) {
            // Its machine is gone, not just slow to answer.
            return spequlos_core::Activity::Lost;
        }
        let tasks = out.as_deref().map(crate::client::parse_tasks);
        let rpc = out.as_deref().and_then(crate::client::parse_last_rpc);
        self.watch.entry(name.to_string()).or_default().activity(
            tasks.as_deref(),
            || Ok(rpc),
            self.cfg.boot_grace,
            self.cfg.ask_grace,
        )
    }

    fn held(&self, name: &str) -> Option<u32> {
        self.watch
            .get(name)
            .and_then(crate::client::WorkerWatch::held)
    }

    fn report(&mut self, name: &str) -> Result<bool, CloudError> {
        let Some(cmd) = &self.cfg.report else {
            return Ok(false);
        };
        if !self.watch.entry(name.to_string()).or_default().may_poke() {
            return Ok(false);
        }
        run(&fill(cmd, name, None, None)).map(|_| true)
    }
}

/// Starts a worker, recording it first. A failed start is recorded as failed (and never charged:
/// the Scheduler only charges workers it started).
pub fn start_worker(
    store: &Store,
    driver: &mut dyn CloudDriver,
    t: f64,
    bot: &BotKey,
    worker: WorkerId,
) -> Result<String, CloudError> {
    let name = worker_name(bot, worker);
    store.record_worker(t, &name, bot, worker)?;
    match driver.start(&name, bot, worker) {
        Ok(()) => {
            store.set_worker_state(t, &name, WorkerState::Running)?;
            Ok(name)
        }
        Err(e) => {
            store.set_worker_state(t, &name, WorkerState::Failed)?;
            Err(e)
        }
    }
}

pub fn stop_worker(
    store: &Store,
    driver: &mut dyn CloudDriver,
    t: f64,
    name: &str,
    lost: bool,
) -> Result<(), CloudError> {
    // A lost worker is released too: a command driver may still hold an instance record.
    driver.stop(name)?;
    let state = if lost {
        WorkerState::Lost
    } else {
        WorkerState::Stopped
    };
    store.set_worker_state(t, name, state)?;
    Ok(())
}

/// What start-up reconciliation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// Recorded and running: kept.
    pub adopted: Vec<String>,
    /// Recorded as running but gone.
    pub lost: Vec<String>,
    /// Recorded as starting, never came up.
    pub failed: Vec<String>,
    /// Running with our prefix but unknown to the store: stopped.
    pub orphans_stopped: Vec<String>,
}

/// Makes the store and the Cloud agree at start-up: adopt what runs and is still `wanted` (the
/// Scheduler's committed state counts it as running), forget what is gone, stop the rest,
/// including workers with our prefix that nobody recorded.
pub fn reconcile(
    store: &Store,
    driver: &mut dyn CloudDriver,
    t: f64,
    wanted: &dyn Fn(&BotKey, WorkerId) -> bool,
) -> Result<Reconciliation, CloudError> {
    let live = driver.list()?;
    let mut r = Reconciliation::default();
    let known = store.workers(&[WorkerState::Starting, WorkerState::Running])?;
    for w in &known {
        let running = live.contains(&w.name);
        match (w.state, running) {
            (_, true) if !wanted(&w.bot, w.worker) => {
                driver.stop(&w.name)?;
                store.set_worker_state(t, &w.name, WorkerState::Stopped)?;
                r.orphans_stopped.push(w.name.clone());
            }
            (_, true) => {
                store.set_worker_state(t, &w.name, WorkerState::Running)?;
                r.adopted.push(w.name.clone());
            }
            (WorkerState::Running, false) => {
                store.set_worker_state(t, &w.name, WorkerState::Lost)?;
                r.lost.push(w.name.clone());
            }
            _ => {
                store.set_worker_state(t, &w.name, WorkerState::Failed)?;
                r.failed.push(w.name.clone());
            }
        }
    }
    for name in live.iter().filter(|n| n.starts_with("spequloscw-")) {
        if !known.iter().any(|w| &w.name == name) {
            driver.stop(name)?;
            r.orphans_stopped.push(name.clone());
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake cloud: a file listing running instances, driven by shell commands.
    fn fake(dir: &std::path::Path) -> CommandDriver {
        let state = dir.join("running");
        std::fs::write(&state, "").unwrap();
        let s = state.display();
        CommandDriver::new(CommandConfig::new(
            format!(
                "case {{name}} in *-fail-*) echo no quota >&2; exit 3;; esac; echo {{name}} >> {s}"
            ),
            format!("grep -vx {{name}} {s} > {s}.tmp || true; mv {s}.tmp {s}"),
            format!("cat {s}"),
        ))
    }

    #[test]
    fn start_stop_list_through_commands() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let mut d = fake(dir.path());
        let bot = BotKey::new("b 1'x", "seti");
        let a = start_worker(&store, &mut d, 0.0, &bot, 0).unwrap();
        let b = start_worker(&store, &mut d, 0.0, &bot, 1).unwrap();
        assert_eq!(a, "spequloscw-seti-b-1-x-0");
        assert_eq!(d.list().unwrap(), vec![a.clone(), b.clone()]);
        stop_worker(&store, &mut d, 1.0, &a, false).unwrap();
        assert_eq!(d.list().unwrap(), vec![b.clone()]);
        assert_eq!(store.workers(&[WorkerState::Running]).unwrap().len(), 1);
        // A failing start is reported with the command's error and recorded as failed.
        let err = start_worker(&store, &mut d, 2.0, &BotKey::new("fail", "seti"), 7)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no quota") && err.contains("exit status: 3"),
            "{err}"
        );
        assert_eq!(store.workers(&[WorkerState::Failed]).unwrap()[0].worker, 7);
    }

    #[test]
    fn reconciliation_adopts_forgets_and_stops_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let mut d = fake(dir.path());
        let bot = BotKey::new("b", "dg");
        let (a, b, c, d3) = (
            worker_name(&bot, 0),
            worker_name(&bot, 1),
            worker_name(&bot, 2),
            worker_name(&bot, 3),
        );
        // a and b were started; c was recorded and then the service died mid-start, but the
        // Cloud did start it; x was started by nobody we know; b has since disappeared.
        // d3 runs, but the Scheduler's committed state never counted it (the service died
        // between starting it and committing the tick): it must be stopped, not adopted.
        for (name, w) in [(&a, 0), (&b, 1), (&c, 2), (&d3, 3)] {
            store.record_worker(0.0, name, &bot, w).unwrap();
        }
        store
            .set_worker_state(0.0, &a, WorkerState::Running)
            .unwrap();
        store
            .set_worker_state(0.0, &b, WorkerState::Running)
            .unwrap();
        let x = "spequloscw-dg-other-9".to_string();
        std::fs::write(
            dir.path().join("running"),
            format!("{a}\n{c}\n{d3}\n{x}\nsomeone-elses-vm\n"),
        )
        .unwrap();
        let r = reconcile(&store, &mut d, 5.0, &|_, w| w != 3).unwrap();
        assert_eq!(r.adopted, vec![a.clone(), c.clone()]);
        assert_eq!(r.lost, vec![b.clone()]);
        assert_eq!(r.orphans_stopped, vec![d3.clone(), x.clone()]);
        assert!(r.failed.is_empty());
        assert_eq!(
            d.list().unwrap(),
            vec![a, c, "someone-elses-vm".to_string()],
            "only our prefix is touched"
        );
    }
}
