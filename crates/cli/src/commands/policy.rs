//! `chiaro policy eval` and `chiaro policy show`.

use anyhow::{Context, anyhow, bail};
use chiaro_k8s::{Namespace, Workload, read_documents};
use chiaro_policy::{
    AgentPolicy, DeploymentOptions, Evaluator, GenerateOptions, INITDATA_ANNOTATION, Initdata,
    SourceFile, generate_deployment, images_to_resolve,
};
use serde_json::{Value, json};

use crate::cli::{
    DEFAULT_INITIALIZER_IMAGE, DEFAULT_MESH_IMAGE, DEFAULT_VOLUME_IMAGE, PolicyEvalArgs,
    PolicyShowArgs, PolicySourceArgs, RegistryArgs,
};
use crate::commands::generate;
use crate::exit::Outcome;
use crate::input;
use crate::output::Printer;

/// The policy named on the command line, with its initdata when it came from YAML (and a note
/// when it was generated here).
fn load(
    source: &PolicySourceArgs,
    registry: &RegistryArgs,
    printer: Printer,
) -> anyhow::Result<(AgentPolicy, Option<Initdata>, Option<String>)> {
    if let Some(path) = &source.policy {
        let bytes = input::read(path, "policy")?;
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow!("policy {} is not UTF-8 text", path.display()))?;
        return Ok((AgentPolicy::from_text(&text), None, None));
    }
    let Some(path) = &source.from_yaml else {
        bail!("give --policy or --from-yaml");
    };
    let bytes = input::read(path, "workload YAML")?;
    let text =
        String::from_utf8(bytes).map_err(|_| anyhow!("{} is not UTF-8 text", path.display()))?;
    let file = path.display().to_string();
    let documents = read_documents(&file, &text)?;
    let mut found = Vec::new();
    for document in &documents {
        if let Some(workload) = Workload::from_document(document)? {
            found.push(workload);
        }
    }
    let names: Vec<&str> = found.iter().map(|w| w.name.as_str()).collect();
    let workload = match (&source.workload, found.len()) {
        (Some(name), _) => found
            .iter()
            .find(|w| &w.name == name)
            .ok_or_else(|| anyhow!("{file}: no workload {name:?}; workloads: {names:?}"))?,
        (None, 1) => &found[0],
        (None, 0) => bail!("{file}: no workload (Pod, Deployment, …) in it"),
        (None, _) => bail!("{file}: several workloads {names:?}; choose one with --workload"),
    };
    let (annotation, note) = match workload.pod_annotations.get(INITDATA_ANNOTATION) {
        Some(annotation) => (annotation.clone(), None),
        None => (
            generate_for(
                &file,
                &text,
                &workload.name,
                &generate::namespace(source.namespace.as_deref())?,
                registry,
                printer,
            )?,
            Some(format!(
                "{file}: workload {:?} was not generated yet; this is the policy `chiaro generate --all` would write for it (initializer injected, images resolved now)",
                workload.name
            )),
        ),
    };
    let initdata = Initdata::from_annotation(&annotation)
        .with_context(|| format!("{file}: workload {:?}", workload.name))?;
    Ok((
        AgentPolicy::from_text(initdata.policy()),
        Some(initdata),
        note,
    ))
}

/// The initdata annotation `chiaro generate --all` would write for workload `name` of `file`.
fn generate_for(
    file: &str,
    text: &str,
    name: &str,
    namespace: &Namespace,
    registry: &RegistryArgs,
    printer: Printer,
) -> anyhow::Result<String> {
    let files = [SourceFile {
        name: file.to_owned(),
        text: text.to_owned(),
    }];
    let options = DeploymentOptions {
        all_workloads: true,
        runtime_class: chiaro_k8s::RUNTIME_CLASS.to_owned(),
        initializer_image: DEFAULT_INITIALIZER_IMAGE.to_owned(),
        mesh_image: DEFAULT_MESH_IMAGE.to_owned(),
        volume_image: DEFAULT_VOLUME_IMAGE.to_owned(),
        coordinator: crate::commands::install::mesh_address(
            crate::commands::install::DEFAULT_NAMESPACE,
        ),
        namespace: namespace.clone(),
        policy: GenerateOptions::default(),
    };
    let images = images_to_resolve(&files, &options)?;
    let pins = generate::resolve(registry, &images, printer)?;
    let generated = generate_deployment(
        &files,
        &pins,
        &chiaro_policy::ExistingManifest::default(),
        &options,
    )?;
    for document in read_documents(file, &generated.files[0].text)? {
        if let Some(workload) = Workload::from_document(&document)?
            && workload.name == name
            && let Some(annotation) = workload.pod_annotations.get(INITDATA_ANNOTATION)
        {
            return Ok(annotation.clone());
        }
    }
    bail!("{file}: no policy was generated for workload {name:?}")
}

pub(crate) fn eval(args: &PolicyEvalArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let (policy, _, generated) = load(&args.source, &args.registry, printer)?;
    let request_bytes = input::read(&args.request, "request")?;
    let document: Value = serde_json::from_slice(&request_bytes)
        .with_context(|| format!("request {} is not JSON", args.request.display()))?;
    let (kind, request) = match (&args.kind, document.get("kind"), document.get("request")) {
        (Some(kind), _, Some(request)) => (kind.clone(), request.clone()),
        (Some(kind), _, None) => (kind.clone(), document.clone()),
        (None, Some(Value::String(kind)), Some(request)) => (kind.clone(), request.clone()),
        (None, _, _) => bail!(
            "request {}: give --kind, or a {{\"kind\": …, \"request\": …}} object",
            args.request.display()
        ),
    };
    let mut evaluator = Evaluator::new(&policy).context("loading the policy")?;
    if let Some(path) = &args.state {
        let state: Value = serde_json::from_slice(&input::read(path, "policy state")?)
            .with_context(|| format!("policy state {} is not JSON", path.display()))?;
        evaluator.set_state(state)?;
    }
    let decision = evaluator.evaluate(&kind, &request)?;
    let verdict = if decision.allowed {
        "allowed"
    } else {
        "denied"
    };
    let mut notes: Vec<String> = generated.into_iter().collect();
    notes.extend(decision.denials.iter().cloned());
    if !decision.allowed && decision.denials.is_empty() {
        notes.push(format!("{kind} is refused by default: no rule allows it"));
    }
    printer.show(
        verdict,
        &json!({
            "kind": kind,
            "allowed": decision.allowed,
            "denials": decision.denials,
            "state": evaluator.state(),
            "prints": decision.prints,
        }),
        &notes,
    );
    Ok(if decision.allowed {
        Outcome::Verified
    } else {
        Outcome::Rejected
    })
}

pub(crate) fn show(args: &PolicyShowArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let (policy, initdata, generated) = load(&args.source, &args.registry, printer)?;
    let initdata = match initdata {
        Some(initdata) => initdata,
        None => Initdata::for_policy(policy.text())?,
    };
    let data = policy
        .data()
        .ok_or_else(|| anyhow!("not a Chiaro policy: no policy_data after the rules"))?;
    let mut notes: Vec<String> = generated.into_iter().collect();
    if !policy.has_current_rules() {
        notes.push("the rules differ from this chiaro version's rules".to_owned());
    }
    let containers: serde_json::Map<String, Value> = data
        .containers
        .iter()
        .map(|(name, rules)| {
            let env: Vec<String> = rules
                .process
                .env
                .iter()
                .filter_map(|rule| match (&rule.name, &rule.value, &rule.value_regex) {
                    (Some(name), Some(_), _) => Some(format!("{name} (pinned value)")),
                    (Some(name), None, Some(regex)) => Some(format!("{name} ~ {regex}")),
                    _ => None,
                })
                .collect();
            let mounts: Vec<String> = rules
                .mounts
                .iter()
                .map(|m| format!("{} ({})", m.destination, m.options.join(",")))
                .collect();
            (
                name.clone(),
                json!({
                    "images": rules.images,
                    "after": rules.after,
                    "args": rules.process.args,
                    "cwd": rules.process.cwd,
                    "user": format!("{}:{} groups {:?}", rules.process.user.uid, rules.process.user.gid, rules.process.user.additional_gids),
                    "capabilities": rules.process.capabilities.get("Bounding"),
                    "env": env,
                    "mounts": mounts,
                    "exec": rules.exec,
                    "read_only_root": rules.read_only_root,
                }),
            )
        })
        .collect();
    // Each pinned volume's files: `path (size, modes)`.
    let volume_files: serde_json::Map<String, Value> = data
        .copy_volumes
        .volumes
        .iter()
        .map(|(name, files)| {
            let listed: Vec<String> = files
                .files
                .iter()
                .map(|(path, rule)| {
                    let size = rule
                        .size
                        .map_or_else(|| "any size".to_owned(), |size| format!("{size} bytes"));
                    let modes: Vec<String> =
                        rule.modes.iter().map(|m| format!("{m:04o}")).collect();
                    format!("{path} ({size}, mode {})", modes.join(" or "))
                })
                .collect();
            (name.clone(), json!(listed))
        })
        .collect();
    printer.show(
        "policy",
        &json!({
            "policy_hash": initdata.policy_hash().to_string(),
            "volume_files": volume_files,
            "pod": {
                "name": data.pod.name_regex,
                "namespace": data.pod.namespace_regex,
                "sysctls": data.pod.sysctls,
            },
            "containers": containers,
        }),
        &notes,
    );
    Ok(Outcome::Verified)
}
