// Package functions holds the functions that ship with edgefn, one main package per folder,
// each built as a plugin by `make functions` and bound to triggers by the manifests in
// ../manifests. They double as examples of the SDK (runtime/fn).
package functions
