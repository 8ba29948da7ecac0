//go:build tools

// Pins Helm (the chart's linter and renderer in CI and the e2e): built from this module graph,
// cached by its go.sum like the Kubernetes binaries.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
