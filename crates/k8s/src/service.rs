//! Services: which pods a Service selects, the ports it maps, and the DNS names cluster DNS
//! gives a name in a namespace. Used for a workload's certificate names (`generate`) and for
//! local mode's stand-in for cluster DNS.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::Document;

/// A Service of the deployment (only what Chiaro needs of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (`default` when absent).
    pub namespace: String,
    /// `spec.selector`; empty selects nothing (a Service without a selector has its endpoints
    /// managed elsewhere).
    pub selector: BTreeMap<String, String>,
    /// `spec.ports`: `(port, targetPort)` with a numeric target (the port itself when absent;
    /// named targets are left out).
    pub ports: Vec<(u16, u16)>,
}

/// The namespace of a Kubernetes object (`default` when absent).
pub fn namespace_of(value: &Value) -> String {
    value
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_owned()
}

/// The names cluster DNS gives `name` in `namespace`: `name`, `name.ns`, `name.ns.svc` and
/// `name.ns.svc.cluster.local`.
pub fn dns_names(name: &str, namespace: &str) -> [String; 4] {
    [
        name.to_owned(),
        format!("{name}.{namespace}"),
        format!("{name}.{namespace}.svc"),
        format!("{name}.{namespace}.svc.cluster.local"),
    ]
}

impl Service {
    /// The Service in `document`, if it is one with a name.
    pub fn from_document(document: &Document) -> Option<Self> {
        if document.kind() != Some("Service") {
            return None;
        }
        let value = &document.value;
        let selector = value
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
        let ports = value
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let port = u16::try_from(entry.get("port")?.as_u64()?).ok()?;
                let target = match entry.get("targetPort") {
                    None => port,
                    Some(target) => u16::try_from(target.as_u64()?).ok()?,
                };
                Some((port, target))
            })
            .collect();
        Some(Self {
            name: document.name()?.to_owned(),
            namespace: namespace_of(value),
            selector,
            ports,
        })
    }

    /// Whether the Service selects pods in `namespace` labelled `labels`.
    pub fn selects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        !self.selector.is_empty()
            && self.namespace == namespace
            && self
                .selector
                .iter()
                .all(|(key, value)| labels.get(key) == Some(value))
    }
}

/// Every Service among `documents`.
pub fn services<'a>(documents: impl IntoIterator<Item = &'a Document>) -> Vec<Service> {
    documents
        .into_iter()
        .filter_map(Service::from_document)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_documents;

    #[test]
    fn a_service_selects_by_every_label_in_its_namespace_only() {
        let documents = read_documents(
            "s.yaml",
            "kind: Service\napiVersion: v1\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {app: web, tier: front}\n  ports: [{port: 80, targetPort: 8080}, {port: 443}, {port: 9000, targetPort: metrics}]\n---\nkind: Service\napiVersion: v1\nmetadata: {name: external}\nspec: {ports: [{port: 5432}]}\n---\nkind: ConfigMap\napiVersion: v1\nmetadata: {name: c}\n",
        )
        .unwrap();
        let found = services(&documents);
        assert_eq!(found.len(), 2, "ConfigMaps are not Services");
        let web = &found[0];
        assert_eq!(
            web.ports,
            [(80, 8080), (443, 443)],
            "named targets left out"
        );
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>()
        };
        let front = labels(&[("app", "web"), ("tier", "front"), ("extra", "x")]);
        assert!(web.selects("shop", &front));
        assert!(!web.selects("default", &front), "another namespace");
        assert!(
            !web.selects("shop", &labels(&[("app", "web")])),
            "a label missing"
        );
        assert_eq!(found[1].namespace, "default");
        assert!(
            !found[1].selects("default", &front),
            "no selector selects nothing"
        );
        assert_eq!(dns_names("web", "shop")[3], "web.shop.svc.cluster.local");
    }
}
