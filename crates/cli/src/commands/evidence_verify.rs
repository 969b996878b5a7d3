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
    let references = args
        .reference
        .as_deref()
        .map(input::reference)
        .transpose()?;
    let now = input::verification_time(args.at.as_deref())?;
    let mut notes = Vec::new();
    let (anchors, sets) = match &args.insecure_simulated_root {
        None => (
            SnpTrustAnchors::amd().context("the embedded AMD roots do not match their pins")?,
            platform_sets(references.map(|r| r.snp), "snp")?,
        ),
        Some(path) => {
            let ark = input::certificates(path, "simulated ARK")?
                .into_iter()
                .next()
                .unwrap_or_default();
            notes.push(format!(
                "WARNING: INSECURE simulated root {} trusted instead of AMD's: this proves nothing about hardware",
                path.display()
            ));
            let sets = references.map(|references| {
                references
                    .insecure_simulated
                    .into_iter()
                    .filter(|simulated| simulated.ark == ark)
                    .map(|simulated| simulated.values)
                    .collect()
            });
            (
                insecure_simulation::trust_anchors(&ark)
                    .with_context(|| format!("simulated ARK {}", path.display()))?,
                platform_sets(sets, "insecure_simulated (for this root)")?,
            )
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
        any_set(&sets, &mut notes, |set| {
            snp::verify_report(&report, &collateral, &anchors, set, now)
        })
    });
    Ok(finish(printer, result, now, notes))
}

pub(crate) fn tdx(args: &VerifyTdxArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let quote = input::evidence(&args.quote, "TDX quote")?;
    let collateral_text = String::from_utf8(input::read(&args.collateral, "TDX collateral")?)
        .with_context(|| format!("TDX collateral {} is not UTF-8", args.collateral.display()))?;
    let collateral = TdxCollateral::from_json(&collateral_text)
        .with_context(|| format!("TDX collateral {}", args.collateral.display()))?;
    let references = args
        .reference
        .as_deref()
        .map(input::reference)
        .transpose()?;
    let sets = platform_sets(references.map(|r| r.tdx), "tdx")?;
    let mut notes = Vec::new();
    if args.reference.is_none() {
        notes.push("no reference values: MRTD, RTMRs, MRCONFIGID and report data not checked; only UpToDate TCB, debug refused".to_owned());
    }
    let now = input::verification_time(args.at.as_deref())?;
    let result = any_set(&sets, &mut notes, |set| {
        tdx::verify(&quote, &collateral, set, now)
    });
    Ok(finish(printer, result, now, notes))
}

/// The reference sets of the platform (`field` of the reference values) the evidence is checked
/// against: the file's, of which there must be one at least; none without a file (the
/// fail-closed defaults, [`any_set`]).
fn platform_sets<S>(sets: Option<Vec<S>>, field: &str) -> anyhow::Result<Vec<S>> {
    match sets {
        Some(sets) if sets.is_empty() => {
            bail!("the reference values have no {field} set for this evidence")
        }
        sets => Ok(sets.unwrap_or_default()),
    }
}

/// Verifies with each reference set in turn (with none, the fail-closed defaults): accepted by
/// the first set that accepts it; when none does, the first set's failure, and with several
/// sets a note per set saying why it failed.
fn any_set<S: Default>(
    sets: &[S],
    notes: &mut Vec<String>,
    mut verify: impl FnMut(&S) -> Result<Verified<Claims>, Error>,
) -> Result<Verified<Claims>, Error> {
    let Some((first, rest)) = sets.split_first() else {
        return verify(&S::default());
    };
    let first_failure = match verify(first) {
        Ok(verified) => return Ok(verified),
        Err(error) => error,
    };
    let mut refusals = vec![(0, first_failure.to_string(), first_failure.check())];
    for (index, set) in (1..).zip(rest) {
        match verify(set) {
            Ok(verified) => return Ok(verified),
            Err(error) => refusals.push((index, error.to_string(), error.check())),
        }
    }
    if refusals.len() > 1 {
        notes.extend(refusals.into_iter().map(|(index, error, check)| {
            format!("reference set {index} refused it: {error} ({check})")
        }));
    }
    Err(first_failure)
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
