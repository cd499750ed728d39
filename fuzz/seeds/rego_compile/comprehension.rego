package k8sfuzzrego

names := {n | n := input.review.object.spec.containers[_].name}

violation[{"msg": msg, "details": {"count": count(names)}}] {
  count(names) > 0
  some k
  input.review.object.metadata.labels[k] == "x"
  msg := concat(", ", [k, json.marshal([1, {"a": [true, null]}])])
}
