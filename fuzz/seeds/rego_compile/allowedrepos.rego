package k8sfuzzrego

violation[{"msg": msg}] {
  container := input.review.object.spec.containers[_]
  not startswith(container.image, "registry.example.com/")
  msg := sprintf("container <%v> has an untrusted image <%v>", [container.name, container.image])
}
