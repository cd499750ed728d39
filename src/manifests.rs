//! Reading Kubernetes manifests: multi-document YAML, JSON, `kind: List`, directories.
//!
//! Used for policy directories, for `portcullis test` inputs and for gator suites, so that
//! every entry point accepts the same files the same way.

#![deny(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::policy::{Document, PolicyError};

/// File extensions read from directories.
const EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Parse one file's text into documents. Empty documents are dropped and `kind: List`
/// (or any `*List` with `items`) is expanded into its items.
pub fn parse_documents(text: &str, location: &str) -> Result<Vec<Document>, PolicyError> {
    let trimmed = text.trim_start();
    let values: Vec<Value> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => items,
            Ok(v) => vec![v],
            // JSON-looking YAML (flow style) still gets a chance below.
            Err(_) => parse_yaml(text, location)?,
        }
    } else {
        parse_yaml(text, location)?
    };
    let mut out = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        let loc = format!("{location}#{i}");
        expand(v, &loc, &mut out);
    }
    Ok(out)
}

fn parse_yaml(text: &str, location: &str) -> Result<Vec<Value>, PolicyError> {
    serde_saphyr::from_multiple::<Value>(text).map_err(|e| PolicyError::Parse {
        location: location.to_string(),
        message: e.to_string(),
    })
}

fn expand(v: Value, location: &str, out: &mut Vec<Document>) {
    match v {
        Value::Null => {}
        Value::Object(ref m)
            if m.get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && m.get("items").is_some_and(Value::is_array) =>
        {
            if let Some(Value::Array(items)) = v.get("items").cloned() {
                for (j, item) in items.into_iter().enumerate() {
                    expand(item, &format!("{location}.items[{j}]"), out);
                }
            }
        }
        other => out.push(Document {
            location: location.to_string(),
            value: other,
        }),
    }
}

/// Every manifest file below `path` (or `path` itself), sorted for a stable order. Names
/// starting with `.` are skipped: that skips ConfigMap mounts' `..data` and timestamped
/// directories, whose files are also reachable through the visible symlinks.
pub fn list_files(path: &Path) -> Result<Vec<PathBuf>, PolicyError> {
    let meta = std::fs::metadata(path).map_err(|e| PolicyError::Parse {
        location: path.display().to_string(),
        message: e.to_string(),
    })?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    walk(path, &mut out, 0)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), PolicyError> {
    if depth > 32 {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| PolicyError::Parse {
        location: dir.display().to_string(),
        message: e.to_string(),
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let p = entry.path();
        // Follow symlinks: ConfigMap keys are symlinks into `..data/`.
        match std::fs::metadata(&p) {
            Ok(m) if m.is_dir() => walk(&p, out, depth + 1)?,
            Ok(m) if m.is_file() => {
                let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
                if EXTENSIONS.contains(&ext) {
                    out.push(p);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Read and parse every manifest at `path` (file or directory).
pub fn read_path(path: &Path) -> Result<Vec<Document>, PolicyError> {
    let (docs, mut errors) = read_path_lenient(path);
    match errors.len() {
        0 => Ok(docs),
        1 => Err(errors.remove(0)),
        _ => Err(PolicyError::Set(errors)),
    }
}

/// Read every manifest that parses and report the files that do not.
pub fn read_path_lenient(path: &Path) -> (Vec<Document>, Vec<PolicyError>) {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    let files = match list_files(path) {
        Ok(f) => f,
        Err(e) => return (docs, vec![e]),
    };
    for file in files {
        let location = file.display().to_string();
        match std::fs::read_to_string(&file) {
            Ok(text) => match parse_documents(&text, &location) {
                Ok(mut d) => docs.append(&mut d),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(PolicyError::Parse {
                location,
                message: e.to_string(),
            }),
        }
    }
    (docs, errors)
}

/// Every YAML document of one file as it is written (a `kind: List` stays one document),
/// empty documents dropped: what gator suites and test corpora name file by file.
pub fn read_values(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Read several paths, or standard input for `-`.
pub fn read_paths(paths: &[PathBuf]) -> Result<Vec<Document>, PolicyError> {
    let mut docs = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| {
                PolicyError::Parse {
                    location: "<stdin>".into(),
                    message: e.to_string(),
                }
            })?;
            docs.extend(parse_documents(&text, "<stdin>")?);
        } else {
            docs.extend(read_path(p)?);
        }
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_and_lists() {
        let text = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: b}}\n- {apiVersion: v1, kind: Pod, metadata: {name: c}}\n";
        let docs = parse_documents(text, "f.yaml").expect("parses");
        let names: Vec<_> = docs
            .iter()
            .map(|d| {
                d.value["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(docs[1].location.starts_with("f.yaml#"));
    }

    #[test]
    fn json_and_errors() {
        let docs = parse_documents("{\"kind\": \"Pod\"}", "x.json").expect("json");
        assert_eq!(docs.len(), 1);
        let err = parse_documents("a: [unclosed", "bad.yaml").expect_err("bad yaml");
        assert!(err.to_string().contains("bad.yaml"), "{err}");
    }

    #[test]
    fn directory_walk_skips_hidden_and_follows_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("..2024_01_01");
        std::fs::create_dir(&data).expect("mkdir");
        std::fs::write(data.join("p.yaml"), "kind: A\n").expect("write");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("..2024_01_01", dir.path().join("..data")).expect("link");
            std::os::unix::fs::symlink("..data/p.yaml", dir.path().join("p.yaml")).expect("link");
        }
        std::fs::write(dir.path().join("notes.txt"), "x").expect("write");
        let files = list_files(dir.path()).expect("list");
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(read_path(dir.path()).expect("read").len(), 1);
    }
}
