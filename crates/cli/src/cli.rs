//! The command-line grammar.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Chiaro: confidential containers, verifiable end to end.
#[derive(Debug, Parser)]
#[command(name = "chiaro", version, about)]
pub struct Cli {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    Text,
    /// One JSON document on stdout.
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and verify TEE evidence.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
}

/// `chiaro evidence …`
#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Print every field of an SNP report or a TDX quote, decoded.
    Show(ShowArgs),
    /// Verify evidence against the vendor's roots and reference values.
    #[command(subcommand)]
    Verify(VerifyCommand),
    /// INSECURE: write SNP-format evidence from a freshly generated simulated TEE, its chain,
    /// its root and matching reference values (for trying the verifier without hardware).
    SimulateInsecure(SimulateArgs),
}

/// `chiaro evidence simulate-insecure`
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Directory to write `report.bin`, `vcek-chain.pem`, `insecure-simulated-ark.pem` and
    /// `reference.json` into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `chiaro evidence show`
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ShowArgs {
    /// An SEV-SNP attestation report (raw, hex or base64).
    #[arg(long, value_name = "FILE")]
    pub snp_report: Option<PathBuf>,
    /// A TDX quote (raw, hex or base64).
    #[arg(long, value_name = "FILE")]
    pub tdx_quote: Option<PathBuf>,
}

/// `chiaro evidence verify …`
#[derive(Debug, Subcommand)]
pub enum VerifyCommand {
    /// Verify an AMD SEV-SNP attestation report.
    Snp(VerifySnpArgs),
    /// Verify an Intel TDX quote.
    Tdx(VerifyTdxArgs),
}

/// `chiaro evidence verify snp`
#[derive(Debug, Args)]
pub struct VerifySnpArgs {
    /// The report (raw binary, hex or base64; detected).
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,
    /// Where the report starts inside the file, for reports embedded in a larger structure
    /// (Azure's HCL report: 32).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub report_offset: usize,
    /// The VCEK or VLEK (DER or PEM); a PEM bundle of VCEK, ASK and ARK works alone.
    #[arg(long, value_name = "FILE")]
    pub vcek: Option<PathBuf>,
    /// The ASK/ASVK and ARK (PEM bundle as AMD KDS serves `cert_chain`, or DER).
    #[arg(long, value_name = "FILE")]
    pub chain: Option<PathBuf>,
    /// AMD's CRL for the product (DER or PEM).
    #[arg(long, value_name = "FILE")]
    pub crl: Option<PathBuf>,
    /// Reference values (JSON; schema in the README).
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// Verification time (RFC 3339); default: now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// INSECURE: trust this simulated ARK instead of AMD's roots. The evidence then proves
    /// nothing about hardware and is reported as `insecure_simulated`.
    #[arg(long, value_name = "FILE")]
    pub insecure_simulated_root: Option<PathBuf>,
}

/// `chiaro evidence verify tdx`
#[derive(Debug, Args)]
pub struct VerifyTdxArgs {
    /// The quote (raw binary, hex or base64; detected).
    #[arg(long, value_name = "FILE")]
    pub quote: PathBuf,
    /// Intel collateral as the JSON `dcap-qvl` and PCCS clients use.
    #[arg(long, value_name = "FILE")]
    pub collateral: PathBuf,
    /// Reference values (JSON; schema in the README).
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// Verification time (RFC 3339); default: now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
}
