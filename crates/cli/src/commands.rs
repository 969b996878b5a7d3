//! The commands: each returns its [`Outcome`] after printing its result.

mod evidence_show;
mod evidence_simulate;
mod evidence_verify;

use crate::cli::{Cli, Command, EvidenceCommand, VerifyCommand};
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
    };
    result.unwrap_or_else(|error| {
        printer.input_error(&error);
        Outcome::Usage
    })
}
