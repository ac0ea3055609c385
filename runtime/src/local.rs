//! The `local` Cloud driver: each Cloud worker is a real `boinc` client process on this
//! machine, in `<dir>/<worker name>/`, attached to the BoT's project with the Cloud account.
//!
//! A worker's directory holds `worker.json` (GUI RPC port and password), so a restarted
//! service finds its workers again (`list`) and can stop them. Stopping is `boinccmd --quit`,
//! SIGKILL after a grace period, then SIGKILL of the app processes left in the directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use spequlos_core::{Activity, BotKey, WorkerId};

use crate::client::{self, Client, ClientSpec};
use crate::cloud::{CloudDriver, CloudError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// Where worker directories live.
    pub dir: PathBuf,
    /// A worker that has held no task yet counts as booting this long, seconds.
    #[serde(default = "default_boot_grace")]
    pub boot_grace: f64,
    /// Seconds between `boinccmd --quit` and SIGKILL.
    #[serde(default = "default_stop_grace")]
    pub stop_grace: f64,
    /// A worker holding nothing counts as idle only once it has asked for work since it ran
    /// out *and* has held nothing this long, seconds: a real server refuses work to a client
    /// that asks within its `min_sendwork_interval` (6 s) of its last request, so one answer
    /// without work right after a report does not mean there is none.
    #[serde(default = "default_ask_grace")]
    pub ask_grace: f64,
}

pub(crate) fn default_ask_grace() -> f64 {
    15.0
}

fn default_boot_grace() -> f64 {
    45.0
}

fn default_stop_grace() -> f64 {
    5.0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct WorkerFile {
    gui_port: u16,
    password: String,
    project_url: String,
}

struct Worker {
    client: Client,
    watch: client::WorkerWatch,
}

/// Where each DG's Cloud workers attach: project URL and Cloud account key.
pub type Projects = BTreeMap<String, (String, String)>;

pub struct LocalDriver {
    cfg: LocalConfig,
    projects: Projects,
    workers: BTreeMap<String, Worker>,
}

impl LocalDriver {
    pub fn new(cfg: LocalConfig, projects: Projects) -> Result<Self, CloudError> {
        fs::create_dir_all(&cfg.dir).map_err(|err| CloudError::Spawn {
            command: format!("mkdir {}", cfg.dir.display()),
            err,
        })?;
        let mut d = LocalDriver {
            cfg,
            projects,
            workers: BTreeMap::new(),
        };
        d.adopt_existing();
        Ok(d)
    }

    /// Workers left by an earlier run of the service: known again, so they can be listed and
    /// stopped.
    fn adopt_existing(&mut self) {
        let Ok(entries) = fs::read_dir(&self.cfg.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(text) = fs::read_to_string(e.path().join("worker.json")) else {
                continue;
            };
            let Ok(w) = serde_json::from_str::<WorkerFile>(&text) else {
                continue;
            };
            if let Some(c) = Client::from_dir(&e.path(), w.gui_port, &w.password, &w.project_url) {
                // An adopted worker gets a fresh boot grace: it may not have fetched its
                // first task when the service died.
                self.workers.insert(
                    name,
                    Worker {
                        client: c,
                        watch: client::WorkerWatch::default(),
                    },
                );
            }
        }
    }

    fn spawn_error(name: &str, e: impl std::fmt::Display) -> CloudError {
        CloudError::Command {
            command: format!("start local worker {name}"),
            status: "failed".into(),
            stderr: e.to_string(),
        }
    }
}

impl CloudDriver for LocalDriver {
    fn start(&mut self, name: &str, bot: &BotKey, _worker: WorkerId) -> Result<(), CloudError> {
        let (url, auth) = self
            .projects
            .get(&bot.dg)
            .cloned()
            .ok_or_else(|| Self::spawn_error(name, format!("no DG named `{}`", bot.dg)))?;
        let dir = self.cfg.dir.join(name);
        if let Some(old) = self.workers.remove(name) {
            old.client
                .stop(Duration::from_secs_f64(self.cfg.stop_grace));
        }
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| Self::spawn_error(name, e))?;
        let spec = ClientSpec {
            dir: dir.clone(),
            gui_port: client::free_port().map_err(|e| Self::spawn_error(name, e))?,
            password: format!("{:016x}", rand_word(name)),
            project_url: url.clone(),
            authenticator: auth,
            app: client::test_app(),
            ncpus: 1,
            fetch_when_idle: true,
        };
        let file = WorkerFile {
            gui_port: spec.gui_port,
            password: spec.password.clone(),
            project_url: url,
        };
        fs::write(
            dir.join("worker.json"),
            serde_json::to_string(&file).expect("plain struct"),
        )
        .map_err(|e| Self::spawn_error(name, e))?;
        let c = client::start(&spec).map_err(|e| Self::spawn_error(name, e))?;
        self.workers.insert(
            name.to_string(),
            Worker {
                client: c,
                watch: client::WorkerWatch::default(),
            },
        );
        Ok(())
    }

    fn stop(&mut self, name: &str) -> Result<(), CloudError> {
        if let Some(w) = self.workers.remove(name) {
            w.client.stop(Duration::from_secs_f64(self.cfg.stop_grace));
        }
        Ok(())
    }

    fn list(&mut self) -> Result<Vec<String>, CloudError> {
        Ok(self
            .workers
            .iter()
            .filter(|(_, w)| w.client.alive())
            .map(|(n, _)| n.clone())
            .collect())
    }

    fn activity(&mut self, name: &str) -> Activity {
        let Some(w) = self.workers.get_mut(name) else {
            return Activity::Lost;
        };
        if !w.client.alive() {
            // The client died (killed, crashed): what it held is lost.
            return Activity::Lost;
        }
        let tasks = w.client.tasks().ok();
        let client = &w.client;
        w.watch.activity(
            tasks.as_deref(),
            || client.last_rpc().map_err(|_| ()),
            self.cfg.boot_grace,
            self.cfg.ask_grace,
        )
    }

    fn held(&self, name: &str) -> Option<u32> {
        self.workers.get(name).and_then(|w| w.watch.held())
    }

    fn report(&mut self, name: &str) -> Result<bool, CloudError> {
        let Some(w) = self.workers.get_mut(name) else {
            return Ok(false);
        };
        if !w.watch.may_poke() {
            return Ok(false);
        }
        w.client
            .update()
            .map(|()| true)
            .map_err(|e| CloudError::Command {
                command: format!("boinccmd --project URL update ({name})"),
                status: "failed".into(),
                stderr: e.to_string(),
            })
    }

    /// Pokes workers that hold nothing (a client stops polling after empty replies); never
    /// a busy one: its forced request asks for a second of work, which a server fills, so
    /// it would take copies another worker could run.
    fn maintain(&mut self) {
        for w in self.workers.values_mut() {
            if w.watch.held() == Some(0) && w.watch.may_poke() {
                let _ = w.client.update();
            }
        }
    }
}

/// A per-worker password: not secret beyond this machine (GUI RPC binds to 127.0.0.1).
fn rand_word(name: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(name.as_bytes());
    h.finish()
}
