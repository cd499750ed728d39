//! Offline audit: the objects are the documents of manifest files and directories, the
//! way they would exist in a cluster once applied.

use std::path::PathBuf;

use super::{AuditError, AuditObject, ObjectSource};

/// Manifest files and directories (read recursively; `-` is standard input), every
/// document an object to audit.
#[derive(Debug, Clone)]
pub struct ManifestSource {
    paths: Vec<PathBuf>,
}

impl ManifestSource {
    /// A source over these paths.
    pub fn new(paths: Vec<PathBuf>) -> Self {
        ManifestSource { paths }
    }
}

impl ObjectSource for ManifestSource {
    fn objects(&self) -> Result<Vec<AuditObject>, AuditError> {
        Ok(crate::manifests::read_paths(&self.paths)?
            .into_iter()
            .map(|d| AuditObject {
                object: d.value,
                location: d.location,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_document_of_every_path_is_an_object_with_its_location() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("app.yaml");
        std::fs::write(
            &file,
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\n",
        )
        .expect("write");
        let objects = ManifestSource::new(vec![dir.path().to_path_buf()])
            .objects()
            .expect("reads");
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[1].object["kind"], "ConfigMap");
        assert!(
            objects[1].location.contains("app.yaml"),
            "{}",
            objects[1].location
        );
    }

    #[test]
    fn an_unreadable_path_is_an_error() {
        let missing = ManifestSource::new(vec![PathBuf::from("/nonexistent/manifests")]);
        assert!(missing.objects().is_err());
    }
}
