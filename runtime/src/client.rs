//! Real `boinc` client processes on this machine: the `local` Cloud driver's workers and the
//! testbed's volunteers.
//!
//! Each client gets its own data directory and GUI RPC port and runs with
//! `--allow_multiple_clients`. The application is installed before attaching through the
//! anonymous platform (`projects/<dir>/app_info.xml`), which needs no code signing
//! (../shared/research/boinc.md §3.7). Clients are controlled with `boinccmd`.
//!
//! Apps that do not use the BOINC API survive their client (an aborted task is killed only
//! after 60 s, and an acked abort orphans it), so stopping a client also kills every process
//! whose working directory is inside the client's data directory.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The application every client can run, installed under the anonymous platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInstall {
    pub name: String,
    pub version_num: u32,
    /// The executable: a script or a binary's bytes.
    pub executable: Vec<u8>,
    pub file_name: String,
}

/// The demo and test application: `spqapp.sh --seconds N` computes for N seconds of *running*
/// time (one-second steps, so a suspended task does not advance), then writes `out` (its
/// input followed by a line naming the host) and BOINC's `boinc_finish_called` marker.
pub fn test_app() -> AppInstall {
    let script = r#"#!/bin/sh
# spequlos test app: compute for N seconds of running time, then write the output.
N=5
[ "$1" = "--seconds" ] && N=$2
i=0
while [ "$i" -lt "$N" ]; do
    sleep 1
    i=$((i + 1))
done
{ [ -f in ] && cat in; echo "done by $(hostname) in $N s"; } > out
echo 0 > boinc_finish_called
exit 0
"#;
    AppInstall {
        name: "spqapp".into(),
        version_num: 100,
        executable: script.as_bytes().to_vec(),
        file_name: "spqapp.sh".into(),
    }
}

/// The project directory name a client uses for `url` (BOINC's `escape_project_url`): the
/// URL without its scheme, non-alphanumerics replaced by `_`, trailing `_` dropped.
pub fn project_dir_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let mut s: String = rest
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    while s.ends_with('_') {
        s.pop();
    }
    s
}

#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub dir: PathBuf,
    pub gui_port: u16,
    pub password: String,
    pub project_url: String,
    pub authenticator: String,
    pub app: AppInstall,
    pub ncpus: u32,
    /// Ask for work only when a CPU is idle, one job per idle CPU: BOINC's "backup project"
    /// rule for a zero resource share, set in the account file written before the client
    /// starts (which attaches it). A Cloud worker then never hoards copies another worker
    /// could run, whatever the server's `max_wus_in_progress`.
    pub fetch_when_idle: bool,
}

/// A running (or once running) client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub pid: u32,
    pub dir: PathBuf,
    pub gui_port: u16,
    pub password: String,
    pub project_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: io::Error },
    #[error("`boinc` could not be started ({0}); install it with `apt-get install boinc-client`")]
    Spawn(io::Error),
    #[error("boinccmd {args}: {why}")]
    Boinccmd { args: String, why: String },
}

fn write(path: &Path, data: &[u8]) -> Result<(), ClientError> {
    fs::write(path, data).map_err(|err| ClientError::Io {
        path: path.to_path_buf(),
        err,
    })
}

/// Writes the client's configuration and the anonymous-platform app into `spec.dir`.
pub fn prepare(spec: &ClientSpec) -> Result<(), ClientError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |err| ClientError::Io { path, err }
    };
    let proj = spec
        .dir
        .join("projects")
        .join(project_dir_name(&spec.project_url));
    fs::create_dir_all(&proj).map_err(io(&proj))?;
    write(
        &spec.dir.join("cc_config.xml"),
        format!(
            "<cc_config>\n<log_flags><sched_op_debug>1</sched_op_debug><task_debug>1</task_debug></log_flags>\n\
             <options><no_info_fetch>1</no_info_fetch><dont_contact_ref_site>1</dont_contact_ref_site>\
             <skip_cpu_benchmarks>1</skip_cpu_benchmarks><allow_multiple_clients>1</allow_multiple_clients>\
             <report_results_immediately>1</report_results_immediately><no_gpus>1</no_gpus>\
             <ncpus>{}</ncpus></options>\n</cc_config>\n",
            spec.ncpus
        )
        .as_bytes(),
    )?;
    // Never suspend for other load (CI machines are busy); a work buffer of ~20 s makes the
    // client ask for the next job while one runs (the server decides how many it may hold).
    write(
        &spec.dir.join("global_prefs_override.xml"),
        b"<global_preferences>\n<run_if_user_active>1</run_if_user_active>\
          <suspend_cpu_usage>0</suspend_cpu_usage><cpu_usage_limit>100</cpu_usage_limit>\
          <work_buf_min_days>0.0002</work_buf_min_days><work_buf_additional_days>0.0001</work_buf_additional_days>\
          <leave_apps_in_memory>1</leave_apps_in_memory>\n</global_preferences>\n",
    )?;
    write(
        &spec.dir.join("nvc_config.xml"),
        format!(
            "<nvc_config><network_test_url>{}</network_test_url></nvc_config>\n",
            spec.project_url
        )
        .as_bytes(),
    )?;
    write(&spec.dir.join("gui_rpc_auth.cfg"), spec.password.as_bytes())?;
    if spec.fetch_when_idle {
        write(
            &spec
                .dir
                .join(format!("account_{}.xml", project_dir_name(&spec.project_url))),
            format!(
                "<account>\n<master_url>{}</master_url>\n<authenticator>{}</authenticator>\n\
                 <project_preferences>\n<resource_share>0</resource_share>\n</project_preferences>\n</account>\n",
                crate::boinc::escape(&spec.project_url),
                crate::boinc::escape(&spec.authenticator)
            )
            .as_bytes(),
        )?;
    }
    let app = &spec.app;
    write(
        &proj.join("app_info.xml"),
        format!(
            "<app_info>\n<app><name>{n}</name><user_friendly_name>{n}</user_friendly_name></app>\n\
             <file_info><name>{f}</name><executable/></file_info>\n\
             <app_version><app_name>{n}</app_name><version_num>{v}</version_num>\
             <platform>x86_64-pc-linux-gnu</platform><avg_ncpus>1</avg_ncpus>\
             <file_ref><file_name>{f}</file_name><main_program/></file_ref></app_version>\n</app_info>\n",
            n = app.name,
            f = app.file_name,
            v = app.version_num
        )
        .as_bytes(),
    )?;
    let exe = proj.join(&app.file_name);
    write(&exe, &app.executable)?;
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).map_err(io(&exe))?;
    Ok(())
}

/// Starts a client in its own session (so a signal to the service's terminal does not reach
/// it before the service stops it cleanly), attaches it and sets its run mode to `always`.
pub fn start(spec: &ClientSpec) -> Result<Client, ClientError> {
    prepare(spec)?;
    let log = spec.dir.join("client.out");
    let out = fs::File::create(&log).map_err(|err| ClientError::Io {
        path: log.clone(),
        err,
    })?;
    let err = out.try_clone().map_err(|err| ClientError::Io {
        path: log.clone(),
        err,
    })?;
    let mut cmd = Command::new("boinc");
    cmd.arg("--dir")
        .arg(&spec.dir)
        .arg("--gui_rpc_port")
        .arg(spec.gui_port.to_string())
        .args([
            "--allow_multiple_clients",
            "--no_info_fetch",
            "--skip_cpu_benchmarks",
            "--no_gpus",
        ])
        .current_dir(&spec.dir)
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid is async-signal-safe and touches no state of this process.
    unsafe {
        cmd.pre_exec(|| {
            libc_setsid();
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(ClientError::Spawn)?;
    let client = Client {
        pid: child.id(),
        dir: spec.dir.clone(),
        gui_port: spec.gui_port,
        password: spec.password.clone(),
        project_url: spec.project_url.clone(),
    };
    // Dropping `Child` neither kills nor waits; `alive` reaps the exited child later.
    drop(child);
    write(
        &spec.dir.join("client.pid"),
        client.pid.to_string().as_bytes(),
    )?;
    // The GUI RPC port opens about a second after start.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.cmd(&["--set_run_mode", "always", "0"]) {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => {
                client.kill();
                return Err(e);
            }
            Err(_) => sleep(Duration::from_millis(250)),
        }
    }
    client.cmd(&["--set_network_mode", "always", "0"])?;
    if !spec.fetch_when_idle {
        client.cmd(&["--project_attach", &spec.project_url, &spec.authenticator])?;
    }
    Ok(client)
}

extern "C" {
    fn setsid() -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
}

fn libc_setsid() {
    // SAFETY: plain syscall wrapper.
    unsafe {
        setsid();
    }
}

const SIGKILL: i32 = 9;
const WNOHANG: i32 = 1;

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    // Reap it first if it is our exited child.
    // SAFETY: waitpid on a pid with WNOHANG has no effect unless it is our child.
    unsafe {
        waitpid(pid as i32, std::ptr::null_mut(), WNOHANG);
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn sigkill(pid: u32) {
    // SAFETY: sending a signal has no memory effects in this process.
    unsafe {
        kill(pid as i32, SIGKILL);
    }
}

/// Processes whose working directory is `dir` or below it (app processes left by a client).
pub fn processes_under(dir: &Path) -> Vec<u32> {
    let Ok(dir) = dir.canonicalize() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(cwd) = fs::read_link(e.path().join("cwd")) {
            if cwd.starts_with(&dir) {
                out.push(pid);
            }
        }
    }
    out
}

impl Client {
    /// Reads back a client from its data directory (after a restart of the service).
    pub fn from_dir(
        dir: &Path,
        gui_port: u16,
        password: &str,
        project_url: &str,
    ) -> Option<Client> {
        let pid = fs::read_to_string(dir.join("client.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some(Client {
            pid,
            dir: dir.to_path_buf(),
            gui_port,
            password: password.to_string(),
            project_url: project_url.to_string(),
        })
    }

    /// Runs `boinccmd` against this client.
    pub fn cmd(&self, args: &[&str]) -> Result<String, ClientError> {
        let out = Command::new("boinccmd")
            .arg("--host")
            .arg(format!("localhost:{}", self.gui_port))
            .arg("--passwd")
            .arg(&self.password)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ClientError::Boinccmd {
                args: args.join(" "),
                why: e.to_string(),
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() || stdout.contains("Authorization failure") {
            return Err(ClientError::Boinccmd {
                args: args.join(" "),
                why: format!(
                    "{} {}",
                    stdout.trim(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(stdout)
    }

    /// Forces a scheduler RPC now (clients stop polling after empty replies).
    pub fn update(&self) -> Result<(), ClientError> {
        self.cmd(&["--project", &self.project_url, "update"])
            .map(|_| ())
    }

    /// Volunteer churn: the host goes away (no computing, no network) or comes back.
    pub fn set_available(&self, on: bool) -> Result<(), ClientError> {
        let mode = if on { "always" } else { "never" };
        self.cmd(&["--set_run_mode", mode, "0"])?;
        self.cmd(&["--set_network_mode", mode, "0"])?;
        if on {
            self.update()?;
        }
        Ok(())
    }

    /// The tasks the client holds.
    pub fn tasks(&self) -> Result<Vec<TaskInfo>, ClientError> {
        Ok(parse_tasks(&self.cmd(&["--get_tasks"])?))
    }

    /// Names of the tasks the client holds that are not finished (downloading, waiting or
    /// running).
    pub fn active_tasks(&self) -> Result<Vec<String>, ClientError> {
        Ok(self
            .tasks()?
            .into_iter()
            .filter(TaskInfo::active)
            .map(|t| t.name)
            .collect())
    }

    /// When the client last contacted its project's scheduler (see [`parse_last_rpc`]).
    pub fn last_rpc(&self) -> Result<Option<String>, ClientError> {
        Ok(parse_last_rpc(&self.cmd(&["--get_project_status"])?))
    }

    pub fn alive(&self) -> bool {
        alive(self.pid)
    }

    /// Stops the client: `boinccmd --quit`, then SIGKILL after `grace`, then every process
    /// still running in its data directory (orphaned apps).
    pub fn stop(&self, grace: Duration) {
        if self.alive() {
            let _ = self.cmd(&["--quit"]);
            let deadline = Instant::now() + grace;
            while self.alive() && Instant::now() < deadline {
                sleep(Duration::from_millis(100));
            }
        }
        self.kill();
    }

    /// SIGKILLs the client and the processes left in its data directory.
    pub fn kill(&self) {
        if self.alive() {
            sigkill(self.pid);
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.alive() && Instant::now() < deadline {
                sleep(Duration::from_millis(20));
            }
        }
        for _ in 0..3 {
            let left = processes_under(&self.dir);
            if left.is_empty() {
                break;
            }
            for pid in left {
                sigkill(pid);
            }
            sleep(Duration::from_millis(50));
        }
    }
}

/// One task as `boinccmd --get_tasks` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    pub name: String,
    pub ready_to_report: bool,
    /// The client state: `new`, `downloading`, `downloaded`, `compute error`, `uploading`,
    /// `uploaded`, `aborted` or `upload failed`.
    pub state: String,
}

impl TaskInfo {
    /// Not finished: downloading, waiting or running.
    pub fn active(&self) -> bool {
        !self.ready_to_report
            && !matches!(
                self.state.as_str(),
                "uploading" | "uploaded" | "aborted" | "compute error" | "upload failed"
            )
    }

    /// Finished, but the server does not know yet: uploading, or waiting to be reported. An
    /// aborted task is not owed (its job is over either way).
    pub fn owed(&self) -> bool {
        self.state != "aborted" && !self.active()
    }
}

/// `boinccmd --get_tasks` lists tasks as blocks starting with `N) -----------` under a
/// `======== Tasks ========` header. Blocks under another header (the projects of
/// `--get_project_status`, when both are printed together) are skipped.
pub fn parse_tasks(out: &str) -> Vec<TaskInfo> {
    let mut tasks: Vec<TaskInfo> = Vec::new();
    let mut in_tasks = true;
    for line in out.lines() {
        let l = line.trim();
        if let Some(h) = l.strip_prefix("========") {
            in_tasks = h.trim_end_matches('=').trim() == "Tasks";
            continue;
        }
        if !in_tasks {
            continue;
        }
        if l.ends_with("-----------") {
            tasks.push(TaskInfo {
                name: String::new(),
                ready_to_report: false,
                state: String::new(),
            });
        } else if let Some(t) = tasks.last_mut() {
            if let Some(n) = l.strip_prefix("name: ") {
                t.name = n.trim().to_string();
            } else if let Some(r) = l.strip_prefix("ready to report: ") {
                t.ready_to_report = r.trim() == "yes";
            } else if let Some(st) = l.strip_prefix("state: ") {
                t.state = st.trim().to_string();
            }
        }
    }
    tasks.retain(|t| !t.name.is_empty());
    tasks
}

/// The `last RPC:` line of `boinccmd --get_project_status` (its first project): the time of
/// the client's last scheduler request, as the client prints it. Only compared for change.
pub fn parse_last_rpc(out: &str) -> Option<String> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("last RPC:"))
        .map(|t| t.trim().to_string())
}

/// What a Cloud driver remembers of one worker to tell what it is doing: the rule both the
/// `local` and the `command` drivers follow.
#[derive(Debug, Clone)]
pub struct WorkerWatch {
    started: Instant,
    had_task: bool,
    /// When the client was first seen holding nothing, and its last scheduler request then.
    empty: Option<(Instant, Option<String>)>,
    /// Tasks it held (active or owed) when last asked; `None` before an answer.
    held: Option<u32>,
    /// When the driver last made the client contact the server.
    poked: Option<Instant>,
}

/// Seconds between two forced scheduler RPCs of one worker. A real server refuses work to a
/// host that asks within `min_sendwork_interval` (6 s) of its previous request and tells it
/// to wait: forcing a request more often would reset that wait for ever.
pub const POKE_INTERVAL: f64 = 10.0;

impl Default for WorkerWatch {
    fn default() -> Self {
        WorkerWatch {
            started: Instant::now(),
            had_task: false,
            empty: None,
            held: None,
            poked: None,
        }
    }
}

impl WorkerWatch {
    /// Whether the driver may make the client contact the server now (at most once per
    /// [`POKE_INTERVAL`]); if so, the time is noted.
    pub fn may_poke(&mut self) -> bool {
        let ok = self
            .poked
            .is_none_or(|t| t.elapsed().as_secs_f64() >= POKE_INTERVAL);
        if ok {
            self.poked = Some(Instant::now());
        }
        ok
    }

    /// Tasks the worker held (computing or owed) at the last [`WorkerWatch::activity`] that
    /// got an answer from its client.
    pub fn held(&self) -> Option<u32> {
        self.held
    }

    /// The worker's activity from its client's tasks (`None`: the client did not answer) and,
    /// asked only when it holds nothing, its last scheduler request (`Err`: no answer;
    /// `Ok(None)`: not known, so holding nothing is idle at once).
    ///
    /// A worker with no task yet is booting for `boot_grace` seconds. Holding nothing is idle
    /// only once the client has asked for work since it ran out *and* `ask_grace` seconds have
    /// passed: a client that just reported (or had its task aborted) waits for the server's
    /// request delay, and a real server answers "no work" to a request within its
    /// `min_sendwork_interval` of the previous one.
    pub fn activity(
        &mut self,
        tasks: Option<&[TaskInfo]>,
        last_rpc: impl FnOnce() -> Result<Option<String>, ()>,
        boot_grace: f64,
        ask_grace: f64,
    ) -> spequlos_core::Activity {
        use spequlos_core::Activity;
        if let Some(t) = tasks {
            self.had_task |= !t.is_empty();
            self.held = Some(t.iter().filter(|t| t.active() || t.owed()).count() as u32);
        }
        match tasks.map(activity_of) {
            Some(Some(a)) => {
                self.empty = None;
                a
            }
            _ if !self.had_task && self.started.elapsed().as_secs_f64() < boot_grace => {
                Activity::Booting
            }
            None => Activity::Busy,
            Some(None) => match last_rpc() {
                Err(()) => Activity::Busy,
                Ok(None) => Activity::Idle,
                Ok(now) => match &self.empty {
                    Some((since, then))
                        if *then != now && since.elapsed().as_secs_f64() >= ask_grace =>
                    {
                        Activity::Idle
                    }
                    Some(_) => Activity::Asking,
                    None => {
                        self.empty = Some((Instant::now(), now));
                        Activity::Asking
                    }
                },
            },
        }
    }
}

/// What a Cloud worker's client is doing, from its tasks: busy while any is active, owing
/// while any finished one is not reported yet, idle otherwise.
pub fn activity_of(tasks: &[TaskInfo]) -> Option<spequlos_core::Activity> {
    use spequlos_core::Activity;
    if tasks.iter().any(TaskInfo::active) {
        Some(Activity::Busy)
    } else if tasks.iter().any(TaskInfo::owed) {
        Some(Activity::Owing)
    } else {
        None
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests and the demo).
pub fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Whether the `boinc` and `boinccmd` programs can be run.
pub fn installed() -> bool {
    ["boinc", "boinccmd"].iter().all(|p| {
        Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_dirs_follow_boinc() {
        assert_eq!(
            project_dir_name("http://127.0.0.1:18080/"),
            "127.0.0.1_18080"
        );
        assert_eq!(
            project_dir_name("https://boinc.example.org/proj/"),
            "boinc.example.org_proj"
        );
    }

    #[test]
    fn active_tasks_skip_reported_and_aborted() {
        let out = "\n======== Tasks ========\n1) -----------\n   name: wu1_0\n   WU name: wu1\n   ready to report: no\n   state: downloaded\n2) -----------\n   name: wu2_0\n   ready to report: yes\n   state: uploaded\n3) -----------\n   name: wu3_0\n   ready to report: no\n   state: aborted\n";
        let tasks = parse_tasks(out);
        let active: Vec<&str> = tasks
            .iter()
            .filter(|t| t.active())
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(active, vec!["wu1_0"]);
        let owed: Vec<&str> = tasks
            .iter()
            .filter(|t| t.owed())
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(
            owed,
            vec!["wu2_0"],
            "uploaded, not reported; the aborted one is not owed"
        );
        assert!(parse_tasks("\n======== Tasks ========\n").is_empty());
        use spequlos_core::Activity;
        assert_eq!(activity_of(&tasks), Some(Activity::Busy));
        assert_eq!(activity_of(&tasks[1..]), Some(Activity::Owing));
        assert_eq!(activity_of(&tasks[2..]), None);
        // Still uploading: owed although not ready to report.
        let up = parse_tasks(
            "1) -----------\n   name: c_0\n   ready to report: no\n   state: uploading\n",
        );
        assert_eq!(activity_of(&up), Some(Activity::Owing));
        // Both listings at once: the project block is not a task; its last RPC is read.
        let both = "\n======== Tasks ========\n1) -----------\n   name: t_0\n   ready to report: no\n   state: downloaded\n\
                    \n======== Projects ========\n1) -----------\n   name: spq\n   master URL: http://h/spq/\n   last RPC: Tue Dec  1 23:45:29 2026\n\n   jobs succeeded: 1\n";
        let t = parse_tasks(both);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].name, "t_0");
        assert_eq!(
            parse_last_rpc(both).as_deref(),
            Some("Tue Dec  1 23:45:29 2026")
        );
    }
}
