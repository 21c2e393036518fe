// Package v1 is berth's object model: the Unit, Job, Service, GitSource, Timer and Host kinds
// of apiVersion berth.dev/v1, their defaults, their validation and the strict
// decoding of YAML or JSON manifests.
//
// A manifest is decoded with [Decode], which splits a multi-document stream,
// rejects unknown fields and reports every problem with the file, the
// document index, the field path and the line. The files of one source (a
// GitSource's sync) are decoded with one [Decoder], which holds them to one
// budget: [MaxManifestBytes], [MaxManifestValues] (YAML aliases and the
// items of Lists expanded), [MaxManifestDocuments], [MaxListNesting] and
// [MaxValueNesting]. Each document is measured before it is converted, in
// time linear in its text, so a source over a limit is refused, with the
// file, the document and the limit named, at the cost of its parse tree. Decoded objects are defaulted
// with [Default] (idempotent: defaulting twice changes nothing) and checked
// with [Validate] for one object or [ValidateSet] for a whole apply, which also
// sees the stored objects: duplicates, dependency cycles across stored and
// applied Units, and Jobs whose template changed without a new version.
//
// Besides the kinds, it holds what the controllers store about them:
// instance statuses, bindings (Binding, JobBinding: where things run) and
// JobVersion, the record of one version of a Job's template that hosts run
// it from.
//
// The package imports nothing else of berth's, so other tools may use it.
// Its functions are pure and safe for concurrent use on distinct objects.
package v1
