//! The testbed against the real Debian boinc-client: attach, download, run, upload, report;
//! targeted copies reach only the Cloud account; a server abort reaches the client. Every
//! client is stopped by pid, even when an assertion fails.

use std::time::{Duration, Instant};

use spequlos_runtime::boinc::{self, InputFile, JobSpec};
use spequlos_runtime::client::{self, Client, ClientSpec};
use spequlos_runtime::testbed::{Testbed, TestbedConfig};

/// Stops the clients when dropped, even during a panic.
struct Clients(Vec<Client>);

impl Drop for Clients {
    fn drop(&mut self) {
        for c in &self.0 {
            c.stop(Duration::from_secs(5));
        }
    }
}

fn submit(url: &str, xml: &str) -> String {
    ureq::post(format!("{url}submit_rpc_handler.php"))
        .send_form([("request", xml)])
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

fn spec(dir: &std::path::Path, tb: &Testbed, auth: &str) -> ClientSpec {
    ClientSpec {
        dir: dir.to_path_buf(),
        gui_port: client::free_port().unwrap(),
        password: "pw".into(),
        project_url: tb.url().to_string(),
        authenticator: auth.into(),
        app: client::test_app(),
        ncpus: 1,
    }
}

fn wait_until(what: &str, secs: u64, clients: &Clients, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        for c in &clients.0 {
            let _ = c.update();
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
}

#[test]
fn real_clients_run_jobs_and_copies_reach_only_the_cloud_account() {
    assert!(
        client::installed(),
        "boinc-client is not installed (scripts/test installs it)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let tb = Testbed::start(
        TestbedConfig {
            delay_bound: 120.0,
            ..Default::default()
        },
        "127.0.0.1:0",
    )
    .unwrap();
    let mut clients = Clients(Vec::new());
    let job = |name: &str, target: Option<i64>, secs: u32| JobSpec {
        name: name.into(),
        rsc_fpops_est: 1e9,
        command_line: format!("--seconds {secs}"),
        target_user: target,
        priority: None,
        inputs: vec![InputFile::Inline {
            content: format!("input of {name}\n"),
        }],
    };
    // One long job goes to the volunteer; its copy, targeted, only to the Cloud worker.
    let r = submit(
        tb.url(),
        &boinc::submit_batch(
            "submitter_key",
            "spqapp",
            "b1",
            &[job("long", None, 200), job("short", None, 2)],
        ),
    );
    let batch = boinc::parse_batch_id(&r, "submit_batch").unwrap();
    clients
        .0
        .push(client::start(&spec(&tmp.path().join("volunteer"), &tb, "volunteer_key")).unwrap());
    let done = |name: &str| {
        tb.job_times(batch)
            .iter()
            .any(|j| j.name == name && j.done_at.is_some())
    };
    wait_until("the volunteer to take a job", 60, &clients, || {
        tb.job_times(batch).iter().any(|j| j.first_sent.is_some())
    });
    let r = submit(
        tb.url(),
        &boinc::submit_batch(
            "submitter_key",
            "spqapp",
            "b1-copies",
            &[job("long__copy", Some(2), 2)],
        ),
    );
    let copies = boinc::parse_batch_id(&r, "submit_batch").unwrap();
    clients
        .0
        .push(client::start(&spec(&tmp.path().join("cloud"), &tb, "cloud_key")).unwrap());
    wait_until(
        "the copy to finish on the Cloud worker",
        90,
        &clients,
        || {
            tb.job_times(copies)
                .iter()
                .any(|j| j.done_at.is_some() && j.done_by_user == Some(2))
        },
    );
    // The output is the input followed by a line naming the host.
    let out = tb.output("long__copy").unwrap();
    assert!(
        out.starts_with(b"input of long__copy\ndone by "),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // The copy won: abort the original; the volunteer is told to abort its instance.
    let r = submit(tb.url(), &boinc::abort_jobs("submitter_key", &["long"]));
    boinc::parse_success(&r, "abort_jobs").unwrap();
    let vol = clients.0[0].clone();
    wait_until(
        "the volunteer to drop the aborted task",
        60,
        &clients,
        || {
            vol.active_tasks()
                .is_ok_and(|t| !t.iter().any(|n| n.starts_with("long_")))
        },
    );
    wait_until("the short job", 60, &clients, || done("short"));
    let q = boinc::parse_query_batch(&submit(
        tb.url(),
        &boinc::query_batch("submitter_key", batch, true),
    ))
    .unwrap();
    assert_eq!(q.fraction_done, 1.0);
    assert_eq!(q.state, boinc::BatchState::Complete);
    // The Cloud worker never got an untargeted job.
    assert!(tb
        .job_times(batch)
        .iter()
        .all(|j| j.done_by_user != Some(2)));
    let dirs: Vec<_> = clients.0.iter().map(|c| c.dir.clone()).collect();
    drop(clients);
    for d in dirs {
        assert!(
            client::processes_under(&d).is_empty(),
            "left processes in {}",
            d.display()
        );
    }
}
