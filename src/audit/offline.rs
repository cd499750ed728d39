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

fn audit_objects(docs: Vec<crate::policy::Document>) -> Vec<AuditObject> {
    docs.into_iter()
        .map(|d| AuditObject {
            object: d.value,
            location: d.location,
        })
        .collect()
}

impl ObjectSource for ManifestSource {
    fn objects(&self) -> Result<Vec<AuditObject>, AuditError> {
        Ok(audit_objects(crate::manifests::read_paths(&self.paths)?))
    }

    /// One file at a time. The file list is taken afresh on each call, as the files are.
    fn for_each_batch(
        &self,
        each: &mut dyn FnMut(Vec<AuditObject>) -> Result<(), AuditError>,
    ) -> Result<(), AuditError> {
        if !self.rereadable() {
            return each(self.objects()?);
        }
        for path in &self.paths {
            for file in crate::manifests::list_files(path)? {
                each(audit_objects(crate::manifests::read_path(&file)?))?;
            }
        }
        Ok(())
    }

    /// Files can be read twice; standard input (`-`) cannot.
    fn rereadable(&self) -> bool {
        !self.paths.iter().any(|p| p.as_os_str() == "-")
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
    fn batches_are_files_and_give_the_same_objects() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, count) in [("a.yaml", 2), ("b/c.json", 3)] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            let docs: Vec<String> = (0..count)
                .map(|i| format!("{{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {{\"name\": \"{name}-{i}\"}}}}"))
                .collect();
            std::fs::write(&path, docs.join("\n---\n")).expect("write");
        }
        let source = ManifestSource::new(vec![dir.path().to_path_buf()]);
        assert!(source.rereadable());
        let mut batches = Vec::new();
        source
            .for_each_batch(&mut |batch| {
                batches.push(batch);
                Ok(())
            })
            .expect("reads");
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 3]);
        let streamed: Vec<AuditObject> = batches.into_iter().flatten().collect();
        assert_eq!(streamed, source.objects().expect("reads"));
        assert!(!ManifestSource::new(vec![PathBuf::from("-")]).rereadable());
    }

    #[test]
    fn an_unreadable_path_is_an_error() {
        let missing = ManifestSource::new(vec![PathBuf::from("/nonexistent/manifests")]);
        assert!(missing.objects().is_err());
    }
}
