//go:build tools

// Package tools keeps the S3 gateway in the module graph, so `go build` of its command uses the
// versions go.sum pins.
package tools

import _ "github.com/versity/versitygw/cmd/versitygw"
