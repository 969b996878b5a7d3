//! The kernel command line a measurement pins, read as the kernel reads it, and refused when it
//! would hand the guest to whoever launches it.
//!
//! The launch digest pins the line, so a line that opens a shell, starts the agent's debug
//! console or mounts an unverified root makes a measurement of a guest the host controls. The
//! node's configuration (`kernel_params`) and a `--cmdline` flag are the user's to choose, but a
//! line like that is never what they meant: `measure` refuses it, naming the parameter. This
//! is a backstop for the review of the line (which `measure` prints), not a substitute: the
//! line is the guest's, read it.

use anyhow::bail;

/// One parameter, split as the kernel's `next_arg` (`lib/cmdline.c`) splits it: quotes group
/// spaces (anywhere in the word) and are dropped around the whole word or the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param {
    /// The key (the whole word without `=`).
    pub(crate) key: String,
    /// The value after the first `=`, if any.
    pub(crate) value: Option<String>,
}

/// The parameters of `line` in order, and whether a `--` ended the kernel's part (what follows
/// goes to init).
pub(crate) fn params(line: &str) -> (Vec<Param>, bool) {
    let mut rest = line.trim_start();
    let mut params = Vec::new();
    while !rest.is_empty() {
        let (word, after) = next_word(rest);
        rest = after.trim_start();
        if word == "--" {
            return (params, true);
        }
        params.push(split_param(&word));
    }
    (params, false)
}

/// The next word: up to a space outside quotes, quotes kept (as `next_arg` scans).
fn next_word(text: &str) -> (String, &str) {
    let mut in_quote = false;
    for (index, character) in text.char_indices() {
        if character == '"' {
            in_quote = !in_quote;
        } else if character.is_whitespace() && !in_quote {
            return (text[..index].to_owned(), &text[index..]);
        }
    }
    (text.to_owned(), "")
}

/// `next_arg`'s key and value: a word starting with a quote loses it and a closing quote at
/// its end; a value starting with a quote loses it and a closing quote at its end.
fn split_param(word: &str) -> Param {
    let quoted = word.starts_with('"');
    let body = word.strip_prefix('"').unwrap_or(word);
    match body.split_once('=') {
        Some((key, value)) => {
            let value = match value.strip_prefix('"') {
                Some(inner) => inner.strip_suffix('"').unwrap_or(inner),
                None if quoted => value.strip_suffix('"').unwrap_or(value),
                None => value,
            };
            Param {
                key: key.to_owned(),
                value: Some(value.to_owned()),
            }
        }
        None => {
            let key = if quoted {
                body.strip_suffix('"').unwrap_or(body)
            } else {
                body
            };
            Param {
                key: key.to_owned(),
                value: None,
            }
        }
    }
}

/// Words systemd (which reads the whole line) takes as a runlevel or an emergency boot, and
/// the kernel passes to init.
const SHELL_WORDS: [&str; 12] = [
    "emergency",
    "rescue",
    "single",
    "s",
    "S",
    "1",
    "2",
    "3",
    "4",
    "5",
    "-b",
    "-s",
];

/// `systemd.*` parameters a pod VM's line may carry: Kata's own, and logging.
const SYSTEMD_ALLOWED: [&str; 6] = [
    "systemd.unit",
    "systemd.mask",
    "systemd.show_status",
    "systemd.log_level",
    "systemd.log_target",
    "systemd.unified_cgroup_hierarchy",
];

/// The only unit a Kata guest boots to.
const KATA_UNIT: &str = "kata-containers.target";

/// Agent parameters that open the guest or send what it does to the host.
const AGENT_DENIED: [&str; 5] = [
    "agent.debug_console",
    "agent.debug_console_vport",
    "agent.devmode",
    "agent.config_file",
    "agent.log_vport",
];

/// CPU vulnerability mitigations, which `=off` (or the `no…` forms) turns off.
const MITIGATIONS: [&str; 14] = [
    "mitigations",
    "spectre_v2",
    "spectre_v2_user",
    "spectre_bhi",
    "spec_store_bypass_disable",
    "spec_rstack_overflow",
    "retbleed",
    "l1tf",
    "mds",
    "tsx_async_abort",
    "mmio_stale_data",
    "srbds",
    "gather_data_sampling",
    "reg_file_data_sampling",
];

/// Mitigations switched off by a word alone.
const MITIGATION_WORDS: [&str; 6] = [
    "nopti",
    "nospectre_v1",
    "nospectre_v2",
    "nospec_store_bypass_disable",
    "noibrs",
    "noibpb",
];

/// Refuses a line that hands the guest to its launcher; `image` says the guest boots a root
/// file system image, which then must be a dm-verity device the line creates.
///
/// # Errors
/// Naming the parameter and why.
pub(crate) fn check(line: &str, image: bool) -> anyhow::Result<()> {
    let (params, init_args) = params(line);
    if init_args {
        bail!("the kernel command line has `--`: what follows goes to init unchecked");
    }
    for param in &params {
        check_param(param)?;
    }
    let roots: Vec<&str> = params
        .iter()
        .filter(|param| param.key == "root")
        .filter_map(|param| param.value.as_deref())
        .collect();
    match roots.last() {
        Some(root) => verity_root(&params, root)?,
        None if image => bail!(
            "the guest boots a root file system image but the kernel command line names no root device"
        ),
        None => {}
    }
    Ok(())
}

fn check_param(param: &Param) -> anyhow::Result<()> {
    let key = param.key.as_str();
    let value = param.value.as_deref();
    let refuse = |why: &str| -> anyhow::Result<()> {
        let shown = match value {
            Some(value) => format!("{key}={value}"),
            None => key.to_owned(),
        };
        bail!(
            "the kernel command line has `{shown}`: {why}; a measurement of it would accept a guest its launcher controls"
        )
    };
    if value.is_none() && SHELL_WORDS.contains(&key) {
        return refuse("systemd boots that as an emergency or rescue shell");
    }
    if matches!(key, "init" | "rdinit") {
        return refuse("it replaces the guest's init (the agent or systemd)");
    }
    if key.starts_with("rd.") {
        return refuse("initrd debugging parameters can stop the boot in a shell");
    }
    if key.starts_with("systemd.") && !SYSTEMD_ALLOWED.contains(&key) {
        return refuse(
            "only Kata's own systemd parameters are accepted (debug shells, extra units and commands are not)",
        );
    }
    if key == "systemd.unit" && value != Some(KATA_UNIT) {
        return refuse("a Kata guest boots kata-containers.target");
    }
    if AGENT_DENIED.contains(&key) {
        return refuse("it opens the agent's debug console or sends its log to the host");
    }
    if key == "agent.log" && matches!(value, Some("debug" | "trace")) {
        return refuse(
            "the agent's debug log carries requests and their environment, secrets included",
        );
    }
    if (MITIGATIONS.contains(&key) && value == Some("off"))
        || (value.is_none() && MITIGATION_WORDS.contains(&key))
    {
        return refuse("it turns off CPU vulnerability mitigations");
    }
    if key == "mem_encrypt" && value != Some("on") {
        return refuse("it turns off memory encryption");
    }
    Ok(())
}

/// One device of `dm-mod.create` (`Documentation/admin-guide/device-mapper/dm-init.rst`):
/// `name,uuid,minor,flags,table[,table…]`, devices separated by `;`.
#[derive(Debug)]
struct DmDevice<'a> {
    minor: u32,
    flags: &'a str,
    tables: Vec<&'a str>,
}

/// Requires `root` to be a device `dm-mod.create` makes: one read-only `verity` table, without
/// the options that skip checks.
fn verity_root(params: &[Param], root: &str) -> anyhow::Result<()> {
    let Some(minor) = root
        .strip_prefix("/dev/dm-")
        .and_then(|n| n.parse::<u32>().ok())
    else {
        bail!(
            "the root file system {root} is not a dm-verity device: the launch digest does not cover a disk, so \
             the measurement would not pin the agent that enforces the policy (give `dm-mod.create=…verity…` \
             and `root=/dev/dm-N`, or boot an initrd)"
        );
    };
    let creates: Vec<&str> = params
        .iter()
        .filter(|param| param.key == "dm-mod.create")
        .filter_map(|param| param.value.as_deref())
        .collect();
    let [create] = creates[..] else {
        bail!(
            "root={root} needs exactly one dm-mod.create, the line has {}",
            creates.len()
        );
    };
    let devices = dm_devices(create)?;
    let matching: Vec<&DmDevice<'_>> = devices
        .iter()
        .filter(|device| device.minor == minor)
        .collect();
    let [device] = matching[..] else {
        bail!(
            "root={root}: dm-mod.create makes {} devices with minor {minor}",
            matching.len()
        );
    };
    let [table] = device.tables[..] else {
        bail!(
            "root={root}: the device has {} tables, a verity root has one",
            device.tables.len()
        );
    };
    let words: Vec<&str> = table.split_whitespace().collect();
    if words.get(2) != Some(&"verity") {
        bail!("root={root}: its table `{table}` is not a verity target");
    }
    if device.flags != "ro" {
        bail!(
            "root={root}: the verity device is not read-only (flags `{}`)",
            device.flags
        );
    }
    for weakening in ["ignore_corruption", "check_at_most_once"] {
        if words.contains(&weakening) {
            bail!("root={root}: verity with `{weakening}` lets changed blocks through");
        }
    }
    // version, data and hash device, block sizes, blocks, hash start, algorithm, root hash, salt.
    if words.len() < 13 {
        bail!("root={root}: the verity table `{table}` lacks its arguments");
    }
    Ok(())
}

/// The devices of one `dm-mod.create` value, each with its minor (given, or its position).
fn dm_devices(create: &str) -> anyhow::Result<Vec<DmDevice<'_>>> {
    let mut devices = Vec::new();
    for (position, device) in create.split(';').enumerate() {
        let fields: Vec<&str> = device.split(',').collect();
        let [_name, _uuid, minor, flags, tables @ ..] = &fields[..] else {
            bail!("dm-mod.create device `{device}` lacks its name, uuid, minor, flags and table");
        };
        let minor = if minor.is_empty() {
            u32::try_from(position)?
        } else {
            minor.parse().map_err(|_| {
                anyhow::anyhow!("dm-mod.create device `{device}`: minor `{minor}` is not a number")
            })?
        };
        devices.push(DmDevice {
            minor,
            flags,
            tables: tables.to_vec(),
        });
    }
    let mut minors: Vec<u32> = devices.iter().map(|device| device.minor).collect();
    minors.sort_unstable();
    minors.dedup();
    if minors.len() != devices.len() {
        bail!("dm-mod.create gives two devices one minor number");
    }
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERITY: &str =
        r#"dm-mod.create="root,,,ro,0 8 verity 1 /dev/vda1 /dev/vda2 4096 4096 1 1 sha256 ab cd""#;

    fn refused(line: &str, image: bool) -> String {
        format!("{:#}", check(line, image).unwrap_err())
    }

    #[test]
    fn words_split_as_the_kernel_splits_them() {
        let (parsed, init) = params(r#"a=1 "b=2 3" c="4 5" y="a root=/dev/dm-0" -- g"#);
        let shown: Vec<(String, Option<String>)> = parsed
            .into_iter()
            .map(|param| (param.key, param.value))
            .collect();
        assert_eq!(
            shown,
            [
                ("a".to_owned(), Some("1".to_owned())),
                ("b".to_owned(), Some("2 3".to_owned())),
                ("c".to_owned(), Some("4 5".to_owned())),
                ("y".to_owned(), Some("a root=/dev/dm-0".to_owned())),
            ]
        );
        assert!(init);
    }

    #[test]
    fn kata_s_own_lines_pass() {
        let kata = "tsc=reliable no_timer_check rcupdate.rcu_expedited=1 noreplace-smp reboot=k cryptomgr.notests \
                    net.ifnames=0 pci=lastbus=0 console=hvc0 console=hvc1 quiet panic=1 nr_cpus=1 selinux=0 \
                    systemd.unit=kata-containers.target systemd.mask=systemd-networkd.service scsi_mod.scan=none";
        check(kata, false).unwrap();
        check(
            &format!("{kata} root=/dev/vda1 {VERITY} root=/dev/dm-0"),
            true,
        )
        .unwrap();
        check("console=ttyS0", false).unwrap();
    }

    #[test]
    fn attack_shells_debug_consoles_and_other_inits_are_refused() {
        for line in [
            "quiet emergency",
            "quiet 1",
            "quiet -- anything",
            "init=/bin/sh",
            "rdinit=/bin/sh",
            "rd.break",
            "systemd.unit=emergency.target",
            "systemd.unit=kata-containers.target systemd.unit=rescue.target",
            "systemd.debug_shell",
            "systemd.run=/bin/sh",
            "systemd.wants=debug-shell.service",
            "agent.debug_console",
            "agent.debug_console_vport=1026",
            "agent.devmode",
            "agent.config_file=/tmp/x",
            "agent.log=debug",
            "mitigations=off",
            "nopti",
            "mem_encrypt=off",
        ] {
            let why = refused(line, false);
            assert!(why.contains("kernel command line"), "{line}: {why}");
        }
    }

    #[test]
    fn attack_a_root_that_is_not_a_verity_device_is_refused() {
        let linear = r#"dm-mod.create="verity,,,ro,0 8 linear /dev/vda1 0""#;
        let two = r#"dm-mod.create="a,,,ro,0 8 linear /dev/vda1 0;b,,,ro,0 8 verity 1 /dev/vda1 /dev/vda2 4096 4096 1 1 sha256 ab cd""#;
        let lenient = r#"dm-mod.create="root,,,ro,0 8 verity 1 /dev/vda1 /dev/vda2 4096 4096 1 1 sha256 ab cd 1 ignore_corruption""#;
        let once = r#"dm-mod.create="root,,,ro,0 8 verity 1 /dev/vda1 /dev/vda2 4096 4096 1 1 sha256 ab cd 1 check_at_most_once""#;
        let writable = r#"dm-mod.create="root,,,rw,0 8 verity 1 /dev/vda1 /dev/vda2 4096 4096 1 1 sha256 ab cd""#;
        for line in [
            "root=/dev/vda1".to_owned(),
            format!("{linear} root=/dev/dm-0"),
            format!("{two} root=/dev/dm-0"),
            format!("{lenient} root=/dev/dm-0"),
            format!("{once} root=/dev/dm-0"),
            format!("{writable} root=/dev/dm-0"),
            format!("{VERITY} root=/dev/dm-0 \"root=/dev/vda1\""),
            format!("{VERITY} root=/dev/dm-1"),
            format!("{VERITY} {VERITY} root=/dev/dm-0"),
        ] {
            assert!(check(&line, true).is_err(), "{line}");
        }
        // A root hidden in another parameter's quoted value is no root.
        assert!(check(&format!("{VERITY} y=\"a root=/dev/dm-0\""), true).is_err());
        // The second device is the root when named so.
        check(&format!("{two} root=/dev/dm-1"), true).unwrap();
    }

    #[test]
    fn an_image_without_a_root_device_is_refused() {
        assert!(refused("quiet", true).contains("names no root device"));
        check("quiet", false).unwrap();
    }
}
