use super::*;
use crate::read_documents;

const TEXT: &str = "\
# a comment
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
---
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    chiaro.dev/mesh-ingress: \"http#8080\"
spec:
  template:
    spec:
      containers:
      - name: app
        image: nginx
      - name: side
        image: busybox
        securityContext:
          privileged: true
";

fn second() -> DocumentId {
    read_documents("app.yaml", TEXT).unwrap()[1].id.clone()
}

#[test]
fn a_field_path_is_found_where_it_is_written() {
    let at = second();
    assert_eq!((at.line, at.column), (8, 1), "the document starts here");
    let field = "spec.template.spec.containers[1].securityContext.privileged";
    assert_eq!(locate(TEXT, &at, field), Some((23, 23)));
    assert_eq!(
        locate(TEXT, &at, "spec.template.spec.containers[side].image"),
        Some((21, 16))
    );
    assert_eq!(
        locate(TEXT, &at, "metadata.annotations.chiaro.dev/mesh-ingress"),
        Some((13, 30))
    );
}

#[test]
fn a_missing_field_points_at_the_deepest_part_that_is_there_and_a_foreign_path_at_none() {
    let at = second();
    let missing = "spec.template.spec.containers[0].securityContext.runAsUser";
    assert_eq!(
        locate(TEXT, &at, missing),
        locate(TEXT, &at, "spec.template.spec.containers[0]")
    );
    assert_eq!(locate(TEXT, &at, "status.phase"), None);
}

#[test]
fn an_error_is_narrowed_to_its_field_and_reads_as_before() {
    let error = K8sError::Unsupported {
        at: second(),
        path: "spec.template.spec.containers[1].securityContext.privileged".to_owned(),
        hint: "a privileged container can reach the guest kernel".to_owned(),
    };
    assert_eq!(
        error.to_string(),
        "app.yaml:8:1:spec.template.spec.containers[1].securityContext.privileged: not supported: a privileged container can reach the guest kernel"
    );
    assert_eq!(
        error.at_field(TEXT).to_string(),
        "app.yaml:23:23:spec.template.spec.containers[1].securityContext.privileged: not supported: a privileged container can reach the guest kernel"
    );
}

#[test]
fn an_item_of_a_list_is_found_in_its_items() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: b\n";
    let documents = read_documents("list.yaml", text).unwrap();
    assert_eq!(
        locate(text, &documents[1].id, "metadata.name"),
        Some((10, 11))
    );
}

#[test]
fn flow_mappings_are_found_too() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: a, annotations: {chiaro.dev/x: \"y\"}}\nspec:\n  containers:\n  - {name: c, image: i, env: [{name: A, value: \"on\"}]}\n";
    let documents = read_documents("flow.yaml", text).unwrap();
    let at = &documents[0].id;
    assert_eq!(
        locate(text, at, "metadata.annotations[chiaro.dev/x]"),
        Some((3, 49))
    );
    assert_eq!(
        locate(text, at, "spec.containers[c].env[0].value"),
        Some((6, 48))
    );
}
