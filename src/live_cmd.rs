//! `spequlos serve`, `spequlos testbed` and `spequlos live --demo`: the live service, the
//! BOINC-protocol test server, and the end-to-end demonstration on real boinc-clients.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use spequlos_runtime::api::Api;
use spequlos_runtime::service::{Service, ServiceConfig};
use spequlos_testbed::demo::{self, DemoConfig};
use spequlos_testbed::{Testbed, TestbedConfig};

use crate::BadInput;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The service's TOML configuration (see docs/boinc.md).
    #[arg(long)]
    config: PathBuf,
}

#[derive(Debug, Args)]
pub struct TestbedArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18080")]
    listen: String,
    /// Users, application, deadlines (TOML); built-in test accounts otherwise.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Run the demonstration: testbed, volunteers with churn, the service, one BoT twice.
    #[arg(long)]
    demo: bool,
    /// Working directory (client data dirs, the service's state); a temporary one by default.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Strategy of the SpeQuloS run.
    #[arg(long, default_value = "9A-G-D")]
    strategy: String,
    #[arg(long, default_value_t = 40)]
    jobs: usize,
    #[arg(long, default_value_t = 6)]
    volunteers: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// Sets `stop` on Ctrl-C / SIGTERM.
fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    ctrlc::set_handler(move || s.store(true, Ordering::SeqCst)).context("signal handler")?;
    Ok(stop)
}

pub fn serve(args: ServeArgs, quiet: bool) -> Result<()> {
    let cfg = ServiceConfig::load(&args.config).map_err(|e| BadInput::new(format!("{e:#}")))?;
    let listen = cfg.listen.clone();
    let mut service = Service::open(
        cfg,
        Box::new(move |m| {
            if !quiet {
                eprintln!("{m}");
            }
        }),
    )?;
    let api = Api::start(service.shared(), &listen)?;
    if !quiet {
        eprintln!("spequlos serve: API on http://{}", api.addr());
    }
    let stop = stop_flag()?;
    service.run(&stop);
    drop(api);
    Ok(())
}

pub fn testbed(args: TestbedArgs, quiet: bool) -> Result<()> {
    let cfg: TestbedConfig = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| p.display().to_string())?;
            toml::from_str(&text).map_err(|e| BadInput::new(format!("{}: {e}", p.display())))?
        }
        None => TestbedConfig::default(),
    };
    let tb = Testbed::start(cfg.clone(), &args.listen)?;
    if !quiet {
        eprintln!("spequlos testbed: project URL {}", tb.url());
        for u in &cfg.users {
            eprintln!(
                "  user {} `{}` key {}{}{}",
                u.id,
                u.name,
                u.authenticator,
                if u.submit { ", may submit" } else { "" },
                if u.only_own_jobs {
                    ", only its own jobs"
                } else {
                    ""
                }
            );
        }
    }
    let stop = stop_flag()?;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Ok(())
}

pub fn live(args: LiveArgs, quiet: bool) -> Result<()> {
    if !args.demo {
        return Err(BadInput::new(
            "`spequlos live` needs --demo (run the service with `spequlos serve --config FILE`)",
        )
        .into());
    }
    args.strategy
        .parse::<spequlos_core::Strategy>()
        .map_err(|e| BadInput::new(format!("--strategy: {e}")))?;
    let tmp;
    let dir = match args.dir {
        Some(d) => d,
        None => {
            tmp = tempfile::tempdir().context("temporary directory")?;
            tmp.path().to_path_buf()
        }
    };
    let mut cfg = DemoConfig::new(dir);
    cfg.strategy = args.strategy;
    cfg.jobs = args.jobs;
    cfg.volunteers = args.volunteers;
    cfg.seed = args.seed;
    // Ctrl-C ends the demo through its cleanup: the clients run in their own sessions and
    // would outlive an abrupt exit.
    cfg.interrupted = stop_flag()?;
    let report = demo::run(&cfg, &mut |m| {
        if !quiet {
            eprintln!("{m}");
        }
    })?;
    print!("{}", demo::render(&report));
    Ok(())
}
