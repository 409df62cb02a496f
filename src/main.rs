//! `skiff`: a Kubernetes-compatible control plane in one binary.

mod agent;
mod cli;
mod controller_manager;
mod images;
mod killall;
mod node_agent;
mod scheduler;
mod server;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};

/// Completes on the first SIGTERM or SIGINT (handlers installed at once, so none is missed).
fn termination() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = cli::Cli::parse();
    let result =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(anyhow::Error::from).and_then(
            |runtime| {
                runtime.block_on(async {
                    match cli.command {
                        cli::Command::Server(args) => server::run(args).await,
                        cli::Command::Scheduler(args) => scheduler::run(args).await,
                        cli::Command::ControllerManager(args) => controller_manager::run(args).await,
                        cli::Command::Agent(args) => agent::run(args).await,
                        cli::Command::Images(args) => images::run(args).await,
                        cli::Command::Killall(args) => killall::run(args).await,
                    }
                })
            },
        );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            match err.downcast_ref::<skiff_store::Error>() {
                Some(store) => eprintln!("skiff: {}", store.chain()),
                None => eprintln!("skiff: {err:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
