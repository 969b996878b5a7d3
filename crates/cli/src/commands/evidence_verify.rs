//! `chiaro evidence verify snp|tdx`.

use anyhow::{Context, bail};
use chiaro_attest::insecure_simulation;
use chiaro_attest::snp::{self, SnpCollateral, SnpTrustAnchors};
use chiaro_attest::tdx::{self, TdxCollateral};
use chiaro_attest::{Claims, Error, UnixTime, Verified};

use crate::cli::{VerifySnpArgs, VerifyTdxArgs};
use crate::exit::Outcome;
use crate::input;
use crate::output::Printer;

pub(crate) fn snp(args: &VerifySnpArgs, printer: Printer) -> anyhow::Result<Outcome> {
    // Every input is read before anything is verified: a bad argument is a usage error (64),
    // whatever the evidence holds.
    let bytes = input::evidence(&args.report, "SNP report")?;
    let Some(bytes) = bytes.get(args.report_offset..) else {
        bail!(
            "--report-offset {} is past the end of {} ({} bytes)",
            args.report_offset,
            args.report.display(),
            bytes.len()
        );
    };
    let mut collateral = SnpCollateral::default();
    for (path, what) in [
        (&args.vcek, "VCEK/VLEK"),
        (&args.chain, "certificate chain"),
    ] {
        if let Some(path) = path {
            let bundle = SnpCollateral::from_certificates(input::certificates(path, what)?)
                .with_context(|| format!("{what} {}", path.display()))?;
            collateral = collateral
                .merge(bundle)
                .with_context(|| format!("{what} {}", path.display()))?;
        }
    }
    if let Some(path) = &args.crl {
        collateral.crl = Some(input::crl(path)?);
    }
    let references = input::reference(args.reference.as_deref())?;
    if args.reference.is_some() && references.snp.is_none() {
        bail!("reference values have no \"snp\" section");
    }
    let now = input::verification_time(args.at.as_deref())?;
    let mut notes = Vec::new();
    let anchors = match &args.insecure_simulated_root {
        None => SnpTrustAnchors::amd().context("the embedded AMD roots do not match their pins")?,
        Some(path) => {
            let ark = input::certificates(path, "simulated ARK")?
                .into_iter()
                .next()
                .unwrap_or_default();
            notes.push(format!(
                "WARNING: INSECURE simulated root {} trusted instead of AMD's: this proves nothing about hardware",
                path.display()
            ));
            insecure_simulation::trust_anchors(&ark)
                .with_context(|| format!("simulated ARK {}", path.display()))?
        }
    };
    if args.reference.is_none() {
        notes.push("no reference values: measurement, host data and report data not checked; debug refused, VMPL 0 only".to_owned());
    }
    let result = snp::Report::parse_prefix(bytes).and_then(|(report, rest)| {
        if !rest.is_empty() {
            notes.push(format!(
                "{} bytes after the 1184-byte report ignored (not signed)",
                rest.len()
            ));
        }
        snp::verify_report(
            &report,
            &collateral,
            &anchors,
            &references.snp.unwrap_or_default(),
            now,
        )
    });
    Ok(finish(printer, result, now, notes))
}

pub(crate) fn tdx(args: &VerifyTdxArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let quote = input::evidence(&args.quote, "TDX quote")?;
    let collateral_text = String::from_utf8(input::read(&args.collateral, "TDX collateral")?)
        .with_context(|| format!("TDX collateral {} is not UTF-8", args.collateral.display()))?;
    let collateral = TdxCollateral::from_json(&collateral_text)
        .with_context(|| format!("TDX collateral {}", args.collateral.display()))?;
    let references = input::reference(args.reference.as_deref())?;
    if args.reference.is_some() && references.tdx.is_none() {
        bail!("reference values have no \"tdx\" section");
    }
    let mut notes = Vec::new();
    if args.reference.is_none() {
        notes.push("no reference values: MRTD, RTMRs, MRCONFIGID and report data not checked; only UpToDate TCB, debug refused".to_owned());
    }
    let now = input::verification_time(args.at.as_deref())?;
    let result = tdx::verify(
        &quote,
        &collateral,
        &references.tdx.unwrap_or_default(),
        now,
    );
    Ok(finish(printer, result, now, notes))
}

/// Prints the verdict with the notes and the verification time, and names the exit.
fn finish(
    printer: Printer,
    result: Result<Verified<Claims>, Error>,
    now: UnixTime,
    mut notes: Vec<String>,
) -> Outcome {
    notes.push(format!("verification time {now}"));
    let result = result.map(Verified::into_inner);
    printer.verdict(&result, &notes);
    match result {
        Ok(_) => Outcome::Verified,
        Err(Error::Rejected(_)) => Outcome::Rejected,
        Err(Error::Unavailable(_)) => Outcome::Unavailable,
    }
}
