//! The kernel command line a measurement pins, held to a strict grammar and an allow-list, and
//! refused otherwise.
//!
//! The launch digest pins the line, so a line that opens a shell, starts the agent's debug
//! console or mounts an unverified root makes a measurement of a guest the host controls. Every
//! reader of the line (the kernel's `next_arg`, systemd, the Kata agent) splits it its own way,
//! with its own quoting, spaces, `-`/`_` folding and case rules, so a deny list over one reading
//! is bypassed through another. Instead the line must be one that every reader reads the same:
//!
//! - printable ASCII only, words separated by spaces, no `'` or `\` anywhere, and a `"` only
//!   around the value of `dm-mod.create`;
//! - every key (compared with `_` as `-`, as the kernel compares them) on [`ALLOWED`], each at
//!   most once unless [`REPEATABLE`]; values of plain characters; `systemd.unit` only
//!   `kata-containers.target`;
//! - a `root=` (the last one, which the kernel takes) only a read-only dm-verity device the line
//!   creates, with a SHA-256 or SHA-512 root hash and no option that skips checks.
//!
//! Kata's own lines pass (the shipped configurations' tests); anything else is refused, naming
//! what. The list is the guest's attack surface, read it with the line `measure` prints.

use anyhow::{Context, bail};

/// Keys a measured line may carry (`_` written as `-`): Kata's own parameters
/// (`docs/kata-command-line.md`), the root and its dm-verity device, consoles and log levels.
const ALLOWED: &[&str] = &[
    "tsc",
    "no-timer-check",
    "rcupdate.rcu-expedited",
    "i8042.direct",
    "i8042.dumbkbd",
    "i8042.nopnp",
    "i8042.noaux",
    "noreplace-smp",
    "reboot",
    "cryptomgr.notests",
    "net.ifnames",
    "pci",
    "intel-iommu",
    "iommu",
    "root",
    "rootflags",
    "rootfstype",
    "ro",
    "console",
    "quiet",
    "loglevel",
    "panic",
    "nr-cpus",
    "selinux",
    "fips",
    "cgroup-no-v1",
    "scsi-mod.scan",
    "systemd.unit",
    "systemd.mask",
    "systemd.show-status",
    "systemd.unified-cgroup-hierarchy",
    "agent.cdh-api-timeout",
    "agent.container-pipe-size",
    "dm-mod.create",
    "dm-mod.waitfor",
];

/// Keys that may appear more than once (the kernel takes the last `root=`).
const REPEATABLE: &[&str] = &["root", "rootflags", "rootfstype", "console", "systemd.mask"];

/// The only unit a Kata guest boots to.
const KATA_UNIT: &str = "kata-containers.target";

/// One parameter: its key as written, the key folded (`_` as `-`), and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Param<'a> {
    key: &'a str,
    folded: String,
    value: Option<&'a str>,
}

/// Refuses a line that is not in the grammar, names a key not allowed, or (when it has a
/// `root=`, or `image` says the guest boots a root image) whose root is not a dm-verity device
/// the line creates.
///
/// # Errors
/// Naming the word and why.
pub(crate) fn check(line: &str, image: bool) -> anyhow::Result<()> {
    let params = params(line)?;
    let mut seen: Vec<&str> = Vec::new();
    for param in &params {
        let folded = param.folded.as_str();
        if !ALLOWED.contains(&folded) {
            refuse(
                param,
                "not a parameter a measured pod VM may have (docs/reference-values.md lists them)",
            )?;
        }
        if seen.contains(&folded) && !REPEATABLE.contains(&folded) {
            refuse(param, "given twice: readers differ on which one counts")?;
        }
        seen.push(folded);
        if folded == "systemd.unit" && param.value != Some(KATA_UNIT) {
            refuse(param, "a Kata guest boots kata-containers.target")?;
        }
    }
    match params.iter().rev().find(|param| param.folded == "root") {
        Some(root) => verity_root(&params, root.value.unwrap_or_default()),
        None if image => bail!(
            "the guest boots a root file system image but the kernel command line names no root device"
        ),
        None => Ok(()),
    }
}

fn refuse(param: &Param<'_>, why: &str) -> anyhow::Result<()> {
    let shown = match param.value {
        Some(value) => format!("{}={value}", param.key),
        None => param.key.to_owned(),
    };
    bail!(
        "the kernel command line has `{shown}`: {why}; a measurement of it could accept a guest its launcher controls"
    )
}

/// The words of `line`, in the grammar the module describes.
fn params(line: &str) -> anyhow::Result<Vec<Param<'_>>> {
    if let Some(bad) = line
        .chars()
        .find(|c| !(' '..='~').contains(c) || *c == '\'' || *c == '\\')
    {
        bail!(
            "the kernel command line has the character {bad:?}: only printable ASCII without ' or \\ is read the \
             same by the kernel, systemd and the agent"
        );
    }
    let mut params = Vec::new();
    let mut rest = line.trim_start_matches(' ');
    while !rest.is_empty() {
        let (word, after) = match rest
            .strip_prefix("dm-mod.create=\"")
            .or_else(|| rest.strip_prefix("dm_mod.create=\""))
        {
            Some(quoted) => {
                let end = quoted.find('"').context(
                    "the kernel command line's dm-mod.create value has no closing quote",
                )?;
                let word_len = rest.len() - quoted.len() + end + 1;
                (&rest[..word_len], &rest[word_len..])
            }
            None => rest.split_at(rest.find(' ').unwrap_or(rest.len())),
        };
        if !after.is_empty() && !after.starts_with(' ') {
            bail!(
                "the kernel command line has `{word}` run into `{after}`: separate words with spaces"
            );
        }
        params.push(param(word)?);
        rest = after.trim_start_matches(' ');
    }
    Ok(params)
}

fn param(word: &str) -> anyhow::Result<Param<'_>> {
    let (key, value) = match word.split_once('=') {
        Some((key, value)) => (key, Some(value)),
        None => (word, None),
    };
    let folded = key.replace('_', "-");
    let quoted_value = folded == "dm-mod.create";
    let plain = |text: &str| {
        text.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-,:/+=@".contains(c))
    };
    let value_ok = match value {
        Some(value) if quoted_value => {
            value.len() >= 2 && value.starts_with('"') && value.ends_with('"')
        }
        Some(value) => plain(value),
        None => true,
    };
    if key.is_empty()
        || !plain(key)
        || key.contains('=')
        || !value_ok
        || (quoted_value && value.is_none())
    {
        bail!(
            "the kernel command line has `{word}`: keys and values are plain characters (letters, digits, . _ - , : / + = @), \
             only dm-mod.create's value is quoted"
        );
    }
    let value = if quoted_value {
        value.map(|quoted| &quoted[1..quoted.len() - 1])
    } else {
        value
    };
    Ok(Param { key, folded, value })
}

/// One device of `dm-mod.create` (`Documentation/admin-guide/device-mapper/dm-init.rst`).
#[derive(Debug)]
struct DmDevice<'a> {
    minor: Option<u32>,
    flags: &'a str,
    tables: Vec<&'a str>,
}

/// Requires `root` to be the read-only dm-verity device `dm-mod.create` makes.
fn verity_root(params: &[Param<'_>], root: &str) -> anyhow::Result<()> {
    let minor = root
        .strip_prefix("/dev/dm-")
        .and_then(decimal)
        .with_context(|| {
            format!(
                "the root file system {root} is not a dm-verity device: the launch digest does not cover a disk, so the \
                 measurement would not pin the agent that enforces the policy (give `dm-mod.create=\"…verity…\"` and \
                 `root=/dev/dm-N`, or boot an initrd)"
            )
        })?;
    let create = params
        .iter()
        .find(|param| param.folded == "dm-mod.create")
        .and_then(|param| param.value)
        .with_context(|| format!("root={root} needs the dm-mod.create that makes it"))?;
    let devices = dm_devices(create)?;
    let position = usize::try_from(minor)?;
    let device = match devices.iter().find(|device| device.minor == Some(minor)) {
        Some(device) => device,
        None => devices
            .get(position)
            .filter(|device| device.minor.is_none())
            .with_context(|| {
                format!("root={root}: dm-mod.create makes no device with minor {minor}")
            })?,
    };
    let [table] = device.tables[..] else {
        bail!(
            "root={root}: the device has {} tables, a verity root has one",
            device.tables.len()
        );
    };
    if device.flags != "ro" {
        bail!(
            "root={root}: the verity device is not read-only (flags `{}`)",
            device.flags
        );
    }
    verity_table(table).with_context(|| format!("root={root}: its table `{table}`"))
}

/// `start length verity 1 data hash data_block hash_block blocks hash_start algorithm root_hash
/// salt [n option…]`, words separated by single spaces, with SHA-256 or SHA-512 and only the
/// options that panic or restart on corruption.
fn verity_table(table: &str) -> anyhow::Result<()> {
    let words: Vec<&str> = table.split(' ').collect();
    let [
        _start,
        _length,
        target,
        version,
        data,
        hash,
        data_block,
        hash_block,
        _blocks,
        _hash_start,
        algorithm,
        root_hash,
        salt,
        options @ ..,
    ] = &words[..]
    else {
        bail!("not a verity table (start, length, `verity`, and its ten arguments)");
    };
    if *target != "verity" || *version != "1" {
        bail!("the target is `{target}` version `{version}`, not `verity` version 1");
    }
    let device = |name: &str| {
        name.strip_prefix("/dev/").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
    };
    if !device(data) || !device(hash) {
        bail!("its devices `{data}` and `{hash}` are not plain /dev names");
    }
    for size in [data_block, hash_block] {
        decimal(size).with_context(|| format!("block size `{size}` is not a number"))?;
    }
    let hash_len = match *algorithm {
        "sha256" => 64,
        "sha512" => 128,
        other => bail!("its hash is `{other}`: only sha256 and sha512 pin the blocks"),
    };
    let hex = |text: &str| text.chars().all(|c| c.is_ascii_hexdigit());
    if root_hash.len() != hash_len || !hex(root_hash) {
        bail!("its root hash `{root_hash}` is not {hash_len} hex digits");
    }
    if *salt != "-" && !hex(salt) {
        bail!("its salt `{salt}` is not hex");
    }
    match options {
        [] => Ok(()),
        [count, rest @ ..] if decimal(count) == u32::try_from(rest.len()).ok() => {
            for option in rest {
                if !matches!(*option, "panic_on_corruption" | "restart_on_corruption") {
                    bail!(
                        "option `{option}`: only panic_on_corruption and restart_on_corruption are accepted"
                    );
                }
            }
            Ok(())
        }
        _ => bail!(
            "its options `{}` are not a count and that many options",
            options.join(" ")
        ),
    }
}

/// The devices of one `dm-mod.create` value: `name,uuid,minor,flags,table[,table…]`, devices
/// separated by `;`, minors decimal without leading zeros.
fn dm_devices(create: &str) -> anyhow::Result<Vec<DmDevice<'_>>> {
    let mut devices = Vec::new();
    for device in create.split(';') {
        let fields: Vec<&str> = device.split(',').collect();
        let [_name, _uuid, minor, flags, tables @ ..] = &fields[..] else {
            bail!("dm-mod.create device `{device}` lacks its name, uuid, minor, flags and table");
        };
        let minor = match *minor {
            "" => None,
            written => Some(decimal(written).with_context(|| {
                format!("dm-mod.create device `{device}`: minor `{written}` is not a decimal number without leading zeros")
            })?),
        };
        devices.push(DmDevice {
            minor,
            flags,
            tables: tables.to_vec(),
        });
    }
    let mut minors: Vec<u32> = devices.iter().filter_map(|device| device.minor).collect();
    minors.sort_unstable();
    let given = minors.len();
    minors.dedup();
    if minors.len() != given || (given > 0 && given != devices.len()) {
        bail!("dm-mod.create gives its devices repeated or partial minor numbers");
    }
    Ok(devices)
}

/// A decimal number without leading zeros (the kernel reads `010` as octal).
fn decimal(text: &str) -> Option<u32> {
    let plain = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    plain.then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "ab00000000000000000000000000000000000000000000000000000000000000";

    fn verity(options: &str) -> String {
        format!(
            r#"dm-mod.create="root,,,ro,0 8 verity 1 /dev/vda1 /dev/vda2 4096 4096 1 1 sha256 {HASH} -{options}""#
        )
    }

    const KATA: &str = "tsc=reliable no_timer_check rcupdate.rcu_expedited=1 i8042.direct=1 i8042.dumbkbd=1 i8042.nopnp=1 \
                        i8042.noaux=1 noreplace-smp reboot=k cryptomgr.notests net.ifnames=0 pci=lastbus=0 root=/dev/vda1 \
                        rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4 console=hvc0 console=hvc1 quiet \
                        systemd.show_status=false panic=1 nr_cpus=1 selinux=0 systemd.unit=kata-containers.target \
                        systemd.mask=systemd-networkd.service systemd.mask=systemd-networkd.socket scsi_mod.scan=none";

    #[test]
    fn kata_s_own_lines_pass_with_a_verity_root() {
        check(&format!("{KATA} {} root=/dev/dm-0", verity("")), true).unwrap();
        check(
            &format!("{KATA} {} root=/dev/dm-0", verity(" 1 panic_on_corruption")),
            true,
        )
        .unwrap();
        check("console=ttyS0 loglevel=7", false).unwrap();
        check("", false).unwrap();
    }

    #[test]
    fn attack_shells_debug_consoles_other_inits_and_unknown_keys_are_refused() {
        for line in [
            "quiet emergency",
            "quiet 1",
            "quiet -- anything",
            "quiet \"--\"",
            "init=/bin/sh",
            "rdinit=/bin/sh",
            "rd.break",
            "systemd.unit=emergency.target",
            "systemd.unit=kata-containers.target systemd.unit=rescue.target",
            "systemd.debug_shell",
            "systemd.run=/bin/sh",
            "systemd.wants=debug-shell.service",
            "SYSTEMD_PROC_CMDLINE=x",
            "KATA_AGENT_LOG_LEVEL=debug",
            "agent.debug_console",
            "agent.log=debug",
            "mitigations=off",
            "spectre-v2=off",
            "nopti",
            "mem_encrypt=off",
            "kgdboc=hvc0",
            "x=\"a agent.debug_console b\"",
            "panic=1 panic=0",
            "panic=1 pan\u{e0}init=/bin/sh",
            "quiet\u{2003}init=/bin/sh",
            "quiet root=/dev/vda1\u{0}",
            "quiet x='a'",
        ] {
            let why = format!("{:#}", check(line, false).unwrap_err());
            assert!(why.contains("kernel command line"), "{line:?}: {why}");
        }
    }

    #[test]
    fn attack_a_root_that_is_not_a_verity_device_is_refused() {
        let linear = r#"dm-mod.create="verity,,,ro,0 8 linear /dev/vda1 0""#;
        let two = format!(
            r#"dm-mod.create="a,,,ro,0 8 linear /dev/vda1 0;b,,,ro,0 8 verity 1 /dev/vda1 /dev/vda2 4096 4096 1 1 sha256 {HASH} -""#
        );
        let octal = format!(
            r#"dm-mod.create="e,,010,ro,0 8 linear /dev/vdb 0;root,,8,ro,0 8 verity 1 /dev/vda1 /dev/vda2 4096 4096 1 1 sha256 {HASH} -""#
        );
        let crc = r#"dm-mod.create="root,,,ro,0 8 verity 1 /dev/vda1 /dev/vda2 4096 4096 1 1 crc32c abcd1234 -""#;
        let writable = verity("").replace(",ro,", ",rw,");
        for line in [
            "root=/dev/vda1".to_owned(),
            format!("{linear} root=/dev/dm-0"),
            format!("{two} root=/dev/dm-0"),
            format!("{octal} root=/dev/dm-8"),
            format!("{crc} root=/dev/dm-0"),
            format!("{writable} root=/dev/dm-0"),
            format!("{} root=/dev/dm-0", verity(" 1 ignore_corruption")),
            format!("{} root=/dev/dm-0", verity(" 1 IGNORE_CORRUPTION")),
            format!("{} root=/dev/dm-0", verity(" 1 check_at_most_once")),
            format!("{} root=/dev/dm-0 root=/dev/vda1", verity("")),
            format!("{} root=/dev/dm-1", verity("")),
            format!("{} {} root=/dev/dm-0", verity(""), verity("")),
            format!(
                "{} dm_mod.create=\"r,,,ro,0 8 linear /dev/vdb 0\" root=/dev/dm-0",
                verity("")
            ),
            format!("{} root=/dev/dm-0 \"root=/dev/vda1\"", verity("")),
            format!("{} root=/dev/dm-00", verity("")),
        ] {
            assert!(check(&line, true).is_err(), "{line}");
        }
        check(&format!("{two} root=/dev/dm-1"), true).unwrap();
    }

    #[test]
    fn an_image_without_a_root_device_is_refused() {
        let why = format!("{:#}", check("quiet", true).unwrap_err());
        assert!(why.contains("names no root device"), "{why}");
        check("quiet", false).unwrap();
    }
}
