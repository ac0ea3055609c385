//! A small sweep as a Slurm job array on a real single-node Slurm (slurmctld + slurmd +
//! munged), started by the test in a temporary directory and stopped by pid when the test
//! ends, pass or fail. The merged shards must equal the unsharded sweep.
//!
//! Needs root and Debian's `slurm-wlm` and `munge` (the test command installs them). Where the
//! daemons cannot run, the test prints the exact reason and stops there without failing:
//! what it would check is then not checked, and it says so.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

const SPEC: &str = r#"
name = "slurm"
[base.trace]
hosts = 150
days = 10
[axes]
middleware = ["boinc", "xwhep"]
strategy = ["none", "9A-G-D", "9C-G-D"]
offset_count = 4
"#;

/// Stops the daemons it started, by pid, whatever happens.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    pids: Vec<PathBuf>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("scancel")
            .env("SLURM_CONF", &self.conf)
            .arg("--full")
            .arg("--user=root")
            .output();
        for p in self.pids.iter().rev() {
            if let Ok(pid) = fs::read_to_string(p) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
        // Give them a moment, then make sure.
        std::thread::sleep(Duration::from_millis(500));
        for p in &self.pids {
            if let Ok(pid) = fs::read_to_string(p) {
                let _ = Command::new("kill").arg("-9").arg(pid.trim()).status();
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    anyhow::bail!("timed out waiting for {what}")
}

fn start_cluster(dir: &Path) -> anyhow::Result<Cluster> {
    for d in ["state", "spool", "log", "munge"] {
        fs::create_dir_all(dir.join(d)).with_context(|| "setting up the test cluster")?;
    }
    let munge = dir.join("munge");
    Command::new("chmod")
        .arg("700")
        .arg(&munge)
        .status()
        .with_context(|| "setting up the test cluster")?;
    let key: Vec<u8> = (0..1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 ^ std::process::id() as u8)
        .collect();
    fs::write(munge.join("munge.key"), key).with_context(|| "setting up the test cluster")?;
    Command::new("chmod")
        .arg("400")
        .arg(munge.join("munge.key"))
        .status()
        .with_context(|| "setting up the test cluster")?;
    let host = String::from_utf8_lossy(
        &Command::new("hostname")
            .arg("-s")
            .output()
            .with_context(|| "setting up the test cluster")?
            .stdout,
    )
    .trim()
    .to_string();
    // Ports out of the way of a system Slurm, different per test process.
    let base = 20000 + (std::process::id() % 20000) as u16;
    let d = dir.display();
    let conf = dir.join("slurm.conf");
    fs::write(
        &conf,
        format!(
            "ClusterName=spequlos-test\nSlurmctldHost={host}(127.0.0.1)\nSlurmUser=root\nSlurmdUser=root\n\
             SlurmctldPort={}\nSlurmdPort={}\nAuthType=auth/munge\nAuthInfo=socket={d}/munge/munge.sock\n\
             CredType=cred/munge\nStateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
             SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
             SlurmctldLogFile={d}/log/slurmctld.log\nSlurmdLogFile={d}/log/slurmd.log\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSelectType=select/cons_tres\n\
             SelectTypeParameters=CR_CPU\nMpiDefault=none\nReturnToService=2\nJobCompType=jobcomp/none\n\
             AccountingStorageType=accounting_storage/none\n\
             NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN\n\
             PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
            base,
            base + 1
        ),
    )
    .with_context(|| "setting up the test cluster")?;
    let mut cluster = Cluster {
        dir: dir.to_path_buf(),
        conf: conf.clone(),
        pids: Vec::new(),
    };
    let run = |cmd: &mut Command| -> anyhow::Result<()> {
        let out = cmd
            .output()
            .with_context(|| "setting up the test cluster")?;
        if out.status.success() {
            Ok(())
        } else {
            Err(anyhow::anyhow!(
                "{:?}: {}",
                cmd,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    cluster.pids.push(munge.join("munged.pid"));
    run(Command::new("munged")
        .arg(format!("--key-file={}", munge.join("munge.key").display()))
        .arg(format!("--socket={}", munge.join("munge.sock").display()))
        .arg(format!("--pid-file={}", munge.join("munged.pid").display()))
        .arg(format!(
            "--log-file={}",
            dir.join("log/munged.log").display()
        ))
        .arg(format!("--seed-file={}", munge.join("seed").display()))
        .arg("--force"))?;
    wait_for("munged", Duration::from_secs(10), || {
        munge.join("munge.sock").exists()
    })?;
    cluster.pids.push(dir.join("slurmctld.pid"));
    run(Command::new("slurmctld").arg("-f").arg(&conf))?;
    cluster.pids.push(dir.join("slurmd.pid"));
    run(Command::new("slurmd").arg("-f").arg(&conf))?;
    let log = |name: &str| fs::read_to_string(dir.join("log").join(name)).unwrap_or_default();
    wait_for("an idle Slurm node", Duration::from_secs(30), || {
        Command::new("sinfo")
            .env("SLURM_CONF", &conf)
            .args(["-h", "-o", "%t"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("idle"))
    })
    .with_context(|| {
        format!(
            "slurmctld log tail: {}; slurmd log tail: {}",
            tail(&log("slurmctld.log")),
            tail(&log("slurmd.log"))
        )
    })?;
    Ok(cluster)
}

fn tail(s: &str) -> String {
    s.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
}

#[test]
fn sweep_as_a_slurm_job_array() {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let missing: Vec<&str> = ["munged", "slurmctld", "slurmd", "sbatch"]
        .into_iter()
        .filter(|c| !have(c))
        .collect();
    if !is_root || !missing.is_empty() {
        eprintln!(
            "NOT CHECKED: Slurm job array test needs root and slurm-wlm/munge (root: {is_root}, missing: {missing:?})"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cluster = match start_cluster(&tmp.path().join("slurm")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("NOT CHECKED: a single-node Slurm could not start here: {e:#}");
            return;
        }
    };
    let work = tmp.path().join("work");
    fs::create_dir_all(&work).unwrap();
    let spec = work.join("spec.toml");
    fs::write(&spec, SPEC).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/slurm/sweep-array.sh");
    let bin = env!("CARGO_BIN_EXE_spequlos");
    let out = Command::new("sbatch")
        .env("SLURM_CONF", &cluster.conf)
        .env("SPEQULOS", bin)
        .current_dir(&work)
        .args(["--parsable", "--array=1-3", "--export=ALL"])
        .arg(&script)
        .arg(&spec)
        .arg(work.join("results"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sbatch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let done = wait_for("the job array", Duration::from_secs(240), || {
        Command::new("squeue")
            .env("SLURM_CONF", &cluster.conf)
            .args(["-h", "-j", &job])
            .output()
            .is_ok_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).trim().is_empty()
            })
    });
    let logs: Vec<String> = (1..=3)
        .map(|k| {
            fs::read_to_string(work.join(format!("spequlos-{job}_{k}.log"))).unwrap_or_default()
        })
        .collect();
    done.unwrap_or_else(|e| panic!("{e}; task logs: {logs:?}"));
    let merged = work.join("merged");
    let mut merge = Command::new(bin);
    merge.args(["--quiet", "merge"]).arg(&merged);
    for k in 1..=3 {
        merge.arg(work.join(format!("results/shard-{k}")));
    }
    let m = merge.output().unwrap();
    assert!(
        m.status.success(),
        "merge: {}; task logs: {logs:?}",
        String::from_utf8_lossy(&m.stderr)
    );
    let whole = work.join("whole");
    let w = Command::new(bin)
        .args(["--quiet", "sweep"])
        .arg(&spec)
        .arg("--out")
        .arg(&whole)
        .output()
        .unwrap();
    assert!(w.status.success());
    assert_eq!(
        fs::read(merged.join("runs.csv")).unwrap(),
        fs::read(whole.join("runs.csv")).unwrap(),
        "the merged job-array shards equal the unsharded sweep"
    );
    drop(cluster);
}
