//! The commands: each returns its [`Outcome`] after printing its result.

mod coordinator_client;
mod deployment;
mod deployment_record;
mod evidence_show;
mod evidence_simulate;
mod evidence_verify;
mod generate;
pub(crate) mod install;
mod keygen;
#[cfg(target_os = "linux")]
mod local;
mod measure;
mod policy;
mod port_forward;
mod private_key_file;
mod registry_source;
mod version;

use crate::cli::{
    Cli, Command, EvidenceCommand, KeygenCommand, LocalCommand, MeasureCommand, PolicyCommand,
    VerifyCommand,
};
use crate::exit::Outcome;
use crate::output::Printer;

/// Runs the parsed command line.
pub(crate) fn run(cli: &Cli) -> Outcome {
    let printer = Printer::new(cli.output);
    let result = match &cli.command {
        Command::Evidence(EvidenceCommand::Show(args)) => evidence_show::run(args, printer),
        Command::Evidence(EvidenceCommand::SimulateInsecure(args)) => {
            evidence_simulate::run(args, printer)
        }
        Command::Evidence(EvidenceCommand::Verify(VerifyCommand::Snp(args))) => {
            evidence_verify::snp(args, printer)
        }
        Command::Evidence(EvidenceCommand::Verify(VerifyCommand::Tdx(args))) => {
            evidence_verify::tdx(args, printer)
        }
        Command::Set(args) => deployment::set(args, printer),
        Command::Verify(args) => deployment::verify(args, printer),
        Command::Recover(args) => deployment::recover(args, printer),
        Command::PortForward(args) => port_forward::run(args, printer),
        Command::Keygen(KeygenCommand::WorkloadOwner(args)) => {
            keygen::workload_owner(args, printer)
        }
        Command::Keygen(KeygenCommand::SeedShareOwner(args)) => {
            keygen::seed_share_owner(args, printer)
        }
        Command::Policy(PolicyCommand::Eval(args)) => policy::eval(args, printer),
        Command::Policy(PolicyCommand::Show(args)) => policy::show(args, printer),
        Command::Install(args) => install::run(args, printer),
        Command::Generate(args) => generate::run(args, printer),
        Command::Measure(MeasureCommand::Snp(args)) => measure::snp(args, printer),
        Command::Measure(MeasureCommand::Explain(args)) => measure::explain(args, printer),
        Command::Local(command) => local_mode(command, printer),
        Command::Version(args) => version::version(args, printer),
        Command::Completion(args) => Ok(version::completion(args)),
    };
    result.unwrap_or_else(|error| {
        if is_network_failure(&error) {
            printer.network_error(&error);
            Outcome::Failed
        } else {
            printer.input_error(&error);
            Outcome::Usage
        }
    })
}

/// `chiaro local …`: network namespaces, iptables and the Linux binaries of the Coordinator, the
/// initializer and the mesh proxy.
#[cfg(target_os = "linux")]
fn local_mode(command: &LocalCommand, printer: Printer) -> anyhow::Result<Outcome> {
    match command {
        LocalCommand::Run(args) => local::run(args, printer),
        LocalCommand::Tamper(args) => local::tamper(args, printer),
        LocalCommand::StandIn(args) => local::stand_in_process(args),
        LocalCommand::Get(args) => local::get_process(args, printer),
    }
}

/// `chiaro local …` elsewhere: a usage error (exit 64) that says why.
#[cfg(not(target_os = "linux"))]
fn local_mode(_: &LocalCommand, _: Printer) -> anyhow::Result<Outcome> {
    Err(NeedsLinux.into())
}

/// Local mode asked for on an operating system other than Linux.
#[cfg(not(target_os = "linux"))]
#[derive(Debug, thiserror::Error)]
#[error(
    "chiaro local needs Linux: its pods are Linux processes in network namespaces, behind \
     iptables rules, and its Coordinator, initializer and mesh proxy are Linux binaries; this is \
     {os}. Every other command works here.",
    os = std::env::consts::OS
)]
struct NeedsLinux;

/// Whether a command failed because a registry could not be reached (the network failed, not
/// the input: exit 1, not 64).
fn is_network_failure(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<generate::UnresolvedImages>()
            .is_some_and(|unresolved| !unresolved.unreachable_hosts().is_empty())
            || cause
                .downcast_ref::<chiaro_registry::RegistryError>()
                .is_some_and(|error| error.unreachable_host().is_some())
    })
}
