// Package manifest decodes and validates edgefn manifests (docs/manifest.md).
//
// YAML enters through [Parse] (one file's bytes) or [LoadPaths] (files and
// folders on disk). Each document is either a function, bound to its HTTP,
// queue, stream and WebSocket triggers, or a `kind: topics` document of
// WebSocket topic rules. What leaves is a [Set] with every default applied,
// every path made absolute and every filter and rule compiled, or, when
// anything at all is invalid, no Set and an [ErrorList] naming the file, line
// and field of each problem, so that nothing half-valid is ever deployed.
//
// Decoding walks yaml.Node trees by hand instead of using strict struct
// decoding, because that stops at the first problem and users want to see
// them all at once.
package manifest
