//! A deterministic tar layer: ustar headers written here, entries sorted by path with every
//! parent directory listed before its children, owner and group 0 (no names), the modes of
//! [`Entry::mode`], one fixed modification time, no extended headers.

use std::collections::BTreeMap;

use crate::{Entry, ImageError, Kind};

/// A tar block.
const BLOCK: usize = 512;
/// The largest size an 11-digit octal field holds.
const MAX_SIZE: u64 = 0o77_777_777_777;

/// The tar of `entries` (in any order; missing parent directories are added with mode 0755),
/// every entry stamped with `mtime` (seconds since the Unix epoch).
///
/// # Errors
/// [`ImageError`] for a path that is not relative and plain, too long for ustar, listed twice
/// or below a non-directory, or a file over 8 GiB.
pub fn layer(entries: &[Entry], mtime: u64) -> Result<Vec<u8>, ImageError> {
    let tree = tree(entries)?;
    let mut out = Vec::new();
    for (path, entry) in &tree {
        let (typeflag, name, link, content): (u8, String, &str, &[u8]) = match &entry.kind {
            Kind::File { content, .. } => (b'0', path.clone(), "", content),
            Kind::Directory { .. } => (b'5', format!("{path}/"), "", &[]),
            Kind::Symlink { target } => (b'2', path.clone(), target, &[]),
        };
        out.extend_from_slice(&header(
            &name,
            entry.mode(),
            content.len(),
            mtime,
            typeflag,
            link,
        )?);
        out.extend_from_slice(content);
        out.resize(out.len().next_multiple_of(BLOCK), 0);
    }
    // The end of the archive: two zero blocks.
    out.resize(out.len() + 2 * BLOCK, 0);
    Ok(out)
}

/// The entries by path, checked, with their parent directories.
fn tree(entries: &[Entry]) -> Result<BTreeMap<String, Entry>, ImageError> {
    let mut tree = BTreeMap::new();
    for entry in entries {
        check_path(&entry.path)?;
        if tree.insert(entry.path.clone(), entry.clone()).is_some() {
            return Err(ImageError::Duplicate {
                path: entry.path.clone(),
            });
        }
    }
    let paths: Vec<String> = tree.keys().cloned().collect();
    for path in paths {
        let mut parent = path.as_str();
        while let Some((up, _)) = parent.rsplit_once('/') {
            parent = up;
            match tree.get(parent).map(|entry| &entry.kind) {
                Some(Kind::Directory { .. }) => {}
                Some(_) => {
                    return Err(ImageError::NotADirectory {
                        parent: parent.to_owned(),
                        path,
                    });
                }
                None => {
                    tree.insert(parent.to_owned(), Entry::directory(parent, 0o755));
                }
            }
        }
    }
    Ok(tree)
}

fn check_path(path: &str) -> Result<(), ImageError> {
    let plain = !path.is_empty()
        && !path.contains('\0')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if plain {
        Ok(())
    } else {
        Err(ImageError::Path {
            path: path.to_owned(),
        })
    }
}

/// One ustar header block.
fn header(
    name: &str,
    mode: u32,
    size: usize,
    mtime: u64,
    typeflag: u8,
    link: &str,
) -> Result<[u8; BLOCK], ImageError> {
    let too_long = || ImageError::TooLong {
        path: name.to_owned(),
    };
    let (prefix, name_field) = split_name(name).ok_or_else(too_long)?;
    if link.len() > 100 {
        return Err(too_long());
    }
    let size_field = u64::try_from(size)
        .ok()
        .filter(|size| *size <= MAX_SIZE)
        .ok_or_else(|| ImageError::TooLarge {
            path: name.to_owned(),
            size,
        })?;
    let mut block = [0u8; BLOCK];
    put(&mut block, 0, name_field.as_bytes());
    put(&mut block, 100, octal(u64::from(mode), 8).as_bytes());
    put(&mut block, 108, octal(0, 8).as_bytes());
    put(&mut block, 116, octal(0, 8).as_bytes());
    put(&mut block, 124, octal(size_field, 12).as_bytes());
    put(&mut block, 136, octal(mtime.min(MAX_SIZE), 12).as_bytes());
    put(&mut block, 148, b"        ");
    block[156] = typeflag;
    put(&mut block, 157, link.as_bytes());
    put(&mut block, 257, b"ustar\0");
    put(&mut block, 263, b"00");
    put(&mut block, 329, octal(0, 8).as_bytes());
    put(&mut block, 337, octal(0, 8).as_bytes());
    put(&mut block, 345, prefix.as_bytes());
    let sum: u64 = block.iter().map(|byte| u64::from(*byte)).sum();
    put(&mut block, 148, format!("{sum:06o}\0 ").as_bytes());
    Ok(block)
}

/// `name` as ustar's (prefix, name): whole when it fits in 100 bytes, else split at a `/`.
fn split_name(name: &str) -> Option<(&str, &str)> {
    if name.len() <= 100 {
        return Some(("", name));
    }
    name.char_indices()
        .filter(|(_, c)| *c == '/')
        .map(|(at, _)| (&name[..at], &name[at + 1..]))
        .find(|(prefix, rest)| prefix.len() <= 155 && rest.len() <= 100 && !rest.is_empty())
}

/// `value` in octal, zero-padded to `width - 1` digits and NUL-terminated.
fn octal(value: u64, width: usize) -> String {
    format!("{value:0digits$o}\0", digits = width - 1)
}

fn put(block: &mut [u8; BLOCK], at: usize, bytes: &[u8]) {
    block[at..at + bytes.len()].copy_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn sample() -> Vec<Entry> {
        vec![
            Entry::file("usr/local/bin/tool", b"#!/bin/true\n".to_vec(), true),
            Entry::symlink("usr/sbin/alias", "../local/bin/tool"),
            Entry::directory("tmp", 0o1777),
            Entry::file("etc/config", b"x = 1\n".to_vec(), false),
        ]
    }

    #[test]
    fn the_same_entries_in_any_order_give_the_same_bytes() {
        let mut reversed = sample();
        reversed.reverse();
        let a = layer(&sample(), 0).unwrap();
        assert_eq!(a, layer(&reversed, 0).unwrap());
        assert_ne!(a, layer(&sample(), 1).unwrap());
        assert_eq!(a.len() % BLOCK, 0);
    }

    #[test]
    fn python_tarfile_reads_the_entries_back_owned_by_root_with_the_fixed_time() {
        let tar = layer(&sample(), 1_700_000_000).unwrap();
        let script = "import sys, tarfile, io\n\
            t = tarfile.open(fileobj=io.BytesIO(sys.stdin.buffer.read()))\n\
            for m in t.getmembers():\n\
            \x20   print(m.name, m.type.decode(), oct(m.mode), m.uid, m.gid, repr(m.uname), m.mtime, m.size, m.linkname)\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), &tar).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            "etc 5 0o755 0 0 '' 1700000000 0 \n\
             etc/config 0 0o644 0 0 '' 1700000000 6 \n\
             tmp 5 0o1777 0 0 '' 1700000000 0 \n\
             usr 5 0o755 0 0 '' 1700000000 0 \n\
             usr/local 5 0o755 0 0 '' 1700000000 0 \n\
             usr/local/bin 5 0o755 0 0 '' 1700000000 0 \n\
             usr/local/bin/tool 0 0o755 0 0 '' 1700000000 12 \n\
             usr/sbin 5 0o755 0 0 '' 1700000000 0 \n\
             usr/sbin/alias 2 0o777 0 0 '' 1700000000 0 ../local/bin/tool\n"
        );
    }

    #[test]
    fn long_paths_use_the_prefix_field_and_too_long_ones_are_refused() {
        let parent = format!("{}/{}", "d".repeat(60), "e".repeat(60));
        let deep = format!("{parent}/{}", "f".repeat(90));
        let tar = layer(&[Entry::file(&deep, vec![1], false)], 0).unwrap();
        // The file's header follows its two parent directories'.
        let header = &tar[2 * BLOCK..3 * BLOCK];
        assert_eq!(&header[..91], format!("{}\0", "f".repeat(90)).as_bytes());
        assert_eq!(&header[345..467], format!("{parent}\0").as_bytes());
        let error = layer(&[Entry::file(&"x".repeat(101), vec![], false)], 0).unwrap_err();
        assert!(matches!(error, ImageError::TooLong { .. }), "{error}");
    }

    #[test]
    fn bad_duplicate_and_misplaced_paths_are_refused() {
        for bad in ["/abs", "a/../b", "a//b", "./a", "a/", ""] {
            let error = layer(&[Entry::file(bad, vec![], false)], 0).unwrap_err();
            assert!(matches!(error, ImageError::Path { .. }), "{bad}: {error}");
        }
        let twice = [
            Entry::file("a", vec![], false),
            Entry::directory("a", 0o755),
        ];
        assert!(matches!(
            layer(&twice, 0),
            Err(ImageError::Duplicate { .. })
        ));
        let below_file = [
            Entry::file("a", vec![], false),
            Entry::file("a/b", vec![], false),
        ];
        assert!(matches!(
            layer(&below_file, 0),
            Err(ImageError::NotADirectory { .. })
        ));
    }
}
