//! `chiaro evidence show`: every field of a report or quote, decoded, without verifying it.

use anyhow::Context;
use chiaro_attest::snp::{self, Product};
use chiaro_attest::tdx;
use serde_json::json;

use crate::cli::ShowArgs;
use crate::exit::Outcome;
use crate::input;
use crate::output::Printer;

pub(crate) fn run(args: &ShowArgs, printer: Printer) -> anyhow::Result<Outcome> {
    if let Some(path) = &args.snp_report {
        let bytes = input::evidence(path, "SNP report")?;
        let (report, rest) = snp::Report::parse_prefix(&bytes)
            .with_context(|| format!("SNP report {}", path.display()))?;
        let mut fields = serde_json::to_value(&report).context("encoding the report")?;
        let products: Vec<Product> = report
            .product()
            .map_or_else(|| Product::ALL.to_vec(), |product| vec![product]);
        let decoded: serde_json::Map<String, serde_json::Value> = products
            .iter()
            .map(|product| {
                (
                    product.name().to_owned(),
                    json!({
                        "current_tcb": report.current_tcb.decode(*product).to_string(),
                        "reported_tcb": report.reported_tcb.decode(*product).to_string(),
                        "committed_tcb": report.committed_tcb.decode(*product).to_string(),
                        "launch_tcb": report.launch_tcb.decode(*product).to_string(),
                    }),
                )
            })
            .collect();
        if let Some(object) = fields.as_object_mut() {
            object.insert("tcb_decoded".to_owned(), serde_json::Value::Object(decoded));
        }
        let mut notes = vec!["not verified: use `chiaro evidence verify snp`".to_owned()];
        if report.cpuid.is_none() {
            notes
                .push("report version 2 has no CPUID: TCB decoded for every generation".to_owned());
        }
        if !rest.is_empty() {
            notes.push(format!("{} bytes after the report ignored", rest.len()));
        }
        printer.show("AMD SEV-SNP attestation report", &fields, &notes);
    } else if let Some(path) = &args.tdx_quote {
        let bytes = input::evidence(path, "TDX quote")?;
        let quote =
            tdx::Quote::parse(&bytes).with_context(|| format!("TDX quote {}", path.display()))?;
        let mut fields = serde_json::to_value(&quote).context("encoding the quote")?;
        if let Some(object) = fields.as_object_mut() {
            object.insert("td_debug".to_owned(), json!(quote.body.debug()));
        }
        printer.show(
            "Intel TDX quote",
            &fields,
            &["not verified: use `chiaro evidence verify tdx`".to_owned()],
        );
    }
    Ok(Outcome::Verified)
}
