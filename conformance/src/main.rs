//! `skiff-conformance`: runs every scenario against a fresh `skiff server`
//! with each requested kubectl version and prints the pass/fail table.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use skiff_conformance::report::{KnownFailures, Report};
use skiff_conformance::scenarios::{ALL, Ctx};
use skiff_conformance::{Cluster, Kubectl, installed_versions};
use skiff_store::testing::EtcdServer;

#[derive(Debug, Parser)]
#[command(name = "skiff-conformance", about = "kubectl-driven conformance scenarios against skiff")]
struct Args {
    /// The skiff binary to start (default: target/release/skiff next to this one).
    #[arg(long)]
    skiff: Option<PathBuf>,
    /// kubectl versions to run with, e.g. `1.27,1.33`, or `all` installed ones.
    #[arg(long, default_value = "all")]
    kubectl_versions: String,
    /// Only scenarios whose name contains this.
    #[arg(long)]
    only: Option<String>,
    /// The datastores to run on, each with a server of its own: `sqlite`, `etcd` (a local etcd on loopback).
    #[arg(long, default_value = "sqlite,etcd", value_delimiter = ',')]
    datastores: Vec<String>,
}

fn run(args: &Args) -> Result<Vec<(String, Report)>> {
    let skiff = match args.skiff.clone() {
        Some(path) => path,
        None => std::env::current_exe().context("locating this binary")?.with_file_name("skiff"),
    };
    if !skiff.exists() {
        bail!("{} does not exist: build it first (cargo build --release)", skiff.display());
    }
    let versions = match args.kubectl_versions.as_str() {
        "all" => installed_versions(),
        list => list.split(',').map(|v| v.trim().to_owned()).collect(),
    };
    if versions.is_empty() {
        bail!("no kubectl versions found in {}", skiff_conformance::kubectl::KUBECTL_DIR);
    }
    let mut reports = Vec::new();
    for datastore in &args.datastores {
        // etcd outlives the server that uses it.
        let etcd = match datastore.as_str() {
            "sqlite" => None,
            "etcd" => Some(EtcdServer::start().context("starting etcd (is etcd-server installed?)")?),
            other => bail!("unknown datastore {other:?} (expected sqlite or etcd)"),
        };
        let endpoint = etcd.as_ref().map(EtcdServer::endpoint);
        // Two simulated nodes, so that pods are scheduled and run as on a real cluster.
        let mut extra: Vec<&str> = vec!["--simulated-nodes", "2"];
        if let Some(endpoint) = &endpoint {
            extra.extend(["--datastore-endpoint", endpoint]);
        }
        let cluster = Cluster::start(&skiff, &extra)?;
        eprintln!("skiff server on {datastore} ready at {} after {:?}", cluster.url, cluster.started_in);
        reports.push((datastore.clone(), run_on(&cluster, args, &versions)?));
        drop(cluster);
        drop(etcd);
    }
    Ok(reports)
}

/// Every scenario with every kubectl version against one server.
fn run_on(cluster: &Cluster, args: &Args, versions: &[String]) -> Result<Report> {
    let scenarios: Vec<_> = ALL.iter().filter(|s| args.only.as_deref().is_none_or(|o| s.name.contains(o))).collect();
    let known = KnownFailures::parse(include_str!("../known-failures.txt"));
    let rows = scenarios.iter().map(|s| (s.name, Vec::new())).collect();
    let mut report = Report { versions: versions.to_vec(), rows, known };
    let admin = Kubectl::new(&versions[versions.len() - 1], &cluster.kubeconfig(), cluster.data_dir());
    for version in versions {
        let kubectl = Kubectl::new(version, &cluster.kubeconfig(), cluster.data_dir());
        if !kubectl.exists() {
            bail!("kubectl {version} is not installed in {}", skiff_conformance::kubectl::KUBECTL_DIR);
        }
        for (index, scenario) in scenarios.iter().enumerate() {
            let ns = format!("conf-{}-{index}", version.replace('.', "-"));
            // The harness's own setup, as a manifest (not a typed create), without client-side validation.
            let manifest = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n");
            let verdict = match admin.run(&["create", "--validate=false", "-f", "-"], Some(&manifest)) {
                Ok(run) if run.success => (scenario.run)(&Ctx { kubectl: &kubectl, ns }).err(),
                Ok(run) => Some(format!("could not create namespace {ns}: {}", run.stderr.trim())),
                Err(error) => Some(format!("{error:#}")),
            };
            report.rows[index].1.push(verdict);
        }
    }
    Ok(report)
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(reports) => {
            let mut passed = true;
            for (datastore, report) in reports {
                println!("datastore: {datastore}");
                print!("{}", report.render());
                // A known failure that now passes fails the run too, so the list stays true.
                passed &= report.failures() == 0 && report.fixed().is_empty();
            }
            if passed { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(error) => {
            eprintln!("skiff-conformance: {error:#}");
            ExitCode::FAILURE
        }
    }
}
